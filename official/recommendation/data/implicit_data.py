"""Implicit-feedback data in contiguous indices, the leave-last-out split and negatives.

`NCFData` is what every trainer and evaluator reads. `from_interactions`
builds it from prepared interactions (`official.datasets.interactions`, or
MovieLens through `movielens_implicit`): each user's latest positive is its
test positive. `sample_negatives_without_replacement` draws the sampled
protocol's evaluation negatives (and the validation split's).
"""

import dataclasses

import numpy as np

from official.datasets import interactions_clean
from official.utils.errors import DataError
from official.utils.misc import array_ops


@dataclasses.dataclass
class NCFData:
    """Implicit-feedback data in contiguous indices.

    Attributes:
      num_users, num_items: sizes of the index spaces.
      train_users, train_items: int32 [P] training positives, sorted by
        (user, item).
      eval_users: int32 [U] users with a test positive (0..U-1).
      eval_items: int32 [U, 1 + N]: column 0 is the test positive, then N
        evaluation negatives.
      user_ids, item_ids: raw id of each index (int64, or str for logs with
        string ids), sorted.
      train_times: int64 [P] timestamp of each training positive (the latest
        rating of the pair; -1 where unknown), or None.
      train_weights: float32 [P] summed weight of each training positive
        (a log's --weight_column), or None.
      item_titles: str [I] titles from a log's --items file, or None.
      eval_offsets, eval_positives: int64 [U + 1] / int32 [S], every held-out
        positive of each evaluated user (the temporal split), or None (one
        each: column 0 of `eval_items`).
    """

    num_users: int
    num_items: int
    train_users: np.ndarray
    train_items: np.ndarray
    eval_users: np.ndarray
    eval_items: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    train_times: np.ndarray | None = None
    train_weights: np.ndarray | None = None
    item_titles: np.ndarray | None = None
    eval_offsets: np.ndarray | None = None
    eval_positives: np.ndarray | None = None

    @property
    def num_eval_negatives(self) -> int:
        """Evaluation negatives per user (N)."""
        return self.eval_items.shape[1] - 1


def sample_negatives_without_replacement(
    rated_keys: np.ndarray, num_users: int, num_items: int, count: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """`count` distinct items per user, none of them rated, uniformly at random.

    Args:
      rated_keys: sorted int64 keys `user * num_items + item` of rated pairs.
      num_users, num_items: index space sizes.
      count: negatives per user.
      rng: random generator.

    Returns:
      int32 [num_users, count].

    Raises:
      DataError: a user has fewer than `count` unrated items.
    """
    rated_per_user = np.bincount(rated_keys // num_items, minlength=num_users)
    if (num_items - rated_per_user < count).any():
        user = int(np.argmax(num_items - rated_per_user < count))
        raise DataError(f"user index {user} has only {num_items - rated_per_user[user]} "
                        f"unrated items; cannot sample {count} evaluation negatives")
    out = np.full((num_users, count), -1, dtype=np.int64)
    filled = np.zeros(num_users, dtype=np.int64)
    # Users in chunks of about 4M candidates bound the temporaries' memory.
    chunk = max(1, 4_000_000 // (count + count // 3 + 8))
    for lo in range(0, num_users, chunk):
        _fill_negatives(rated_keys, np.arange(lo, min(lo + chunk, num_users)), num_items,
                        count, rng, out, filled)
    return out.astype(np.int32)


def _fill_negatives(rated_keys, todo, num_items, count, rng, out, filled) -> None:
    """Fills out[todo] with distinct unrated items, drawing until every row is full."""
    while todo.size:
        draws = count + count // 3 + 8
        cand = rng.integers(0, num_items, (todo.size, draws))
        keys = todo[:, None] * num_items + cand
        valid = ~array_ops.isin_sorted(keys, rated_keys)
        # Drop candidates equal to an earlier candidate or to an item already taken.
        order = np.argsort(cand, axis=1, kind="stable")
        sorted_cand = np.take_along_axis(cand, order, axis=1)
        dup_sorted = np.zeros_like(valid)
        dup_sorted[:, 1:] = sorted_cand[:, 1:] == sorted_cand[:, :-1]
        dup = np.empty_like(dup_sorted)
        np.put_along_axis(dup, order, dup_sorted, axis=1)
        valid &= ~dup
        if filled[todo].any():  # Later rounds (few users): skip items already taken.
            valid &= ~(cand[:, :, None] == out[todo][:, None, :]).any(axis=2)
        rank = np.cumsum(valid, axis=1) - 1 + filled[todo][:, None]
        keep = valid & (rank < count)
        rows, cols = np.nonzero(keep)
        out[todo[rows], rank[rows, cols]] = cand[rows, cols]
        filled[todo] += keep.sum(axis=1)
        todo = todo[filled[todo] < count]


def latest_per_user(users: np.ndarray, times: np.ndarray | None, num_users: int,
                    rng: np.random.Generator) -> np.ndarray:
    """Index of each user's latest positive, ties and unknown times drawn at random.

    Args:
      users: int [P] user of each positive, sorted ascending.
      times: int64 [P] timestamps (-1 unknown), or None (all unknown).
      num_users: size of the user index space.
      rng: draws the tie-breaks (one uniform per positive).

    Returns:
      int64 [num_users]: index into the positives, -1 for users with fewer
      than two positives (nothing is held out from them).
    """
    offsets = array_ops.csr_offsets(users, num_users)
    counts, starts = np.diff(offsets), offsets[:-1]
    if times is None:
        times = np.full(len(users), -1, np.int64)
    # Per user: the largest time, then the largest random draw among those at it.
    tie = rng.random(len(users))
    present = counts > 0
    latest = np.full(num_users, np.iinfo(np.int64).min)
    latest[present] = np.maximum.reduceat(times, starts[present])
    score = np.where(times == latest[users], tie, -1.0)
    best = np.full(num_users, -2.0)
    best[present] = np.maximum.reduceat(score, starts[present])
    is_best = score == best[users]
    # The first positive of each user that attains the best score.
    index = np.full(num_users, -1, np.int64)
    hits = np.flatnonzero(is_best)
    first = np.concatenate([[True], users[hits][1:] != users[hits][:-1]])
    index[users[hits[first]]] = hits[first]
    index[counts < 2] = -1
    return index


def from_interactions(data: interactions_clean.Interactions, num_eval_negatives: int,
                      seed: int) -> NCFData:
    """Leave-last-out `NCFData`: each user's latest positive is its test positive.

    Latest by timestamp, ties to the later row of the file; without
    timestamps a seeded uniform pick. Users with a single positive keep it
    for training and are not evaluated. Each evaluated user gets
    `num_eval_negatives` sampled negatives (0: full ranking only).

    Raises:
      DataError: no user has two positives, or too few items for the negatives.
    """
    num_users, num_items = data.num_users, data.num_items
    if num_eval_negatives and num_items <= num_eval_negatives:
        raise DataError(f"only {num_items} items; need more than --num_eval_negatives="
                        f"{num_eval_negatives}")
    users, items = data.users, data.items
    offsets = array_ops.csr_offsets(users, num_users)
    counts = np.diff(offsets)
    if data.has_times:  # the last pair of each user by (time, row)
        perm = np.lexsort((data.order, data.times, users))
        test_rows = perm[offsets[1:][counts > 0] - 1]
        test_rows = test_rows[counts[users[test_rows]] >= 2]
    else:
        held = latest_per_user(users, None, num_users, np.random.default_rng([seed, 0x7E57]))
        test_rows = held[held >= 0]
    if not len(test_rows):
        raise DataError("no user has two positives: nothing can be held out for testing")
    is_test = np.zeros(len(users), bool)
    is_test[test_rows] = True
    rated = users.astype(np.int64) * num_items + items  # sorted: (user, item)
    eval_users = users[test_rows].astype(np.int32)
    negatives = sample_negatives_without_replacement(
        rated, num_users, num_items, num_eval_negatives, np.random.default_rng(seed))
    eval_items = np.concatenate([items[test_rows][:, None].astype(np.int32),
                                 negatives[eval_users]], axis=1)
    train = ~is_test
    return NCFData(
        num_users=num_users, num_items=num_items,
        train_users=users[train].astype(np.int32), train_items=items[train].astype(np.int32),
        eval_users=eval_users, eval_items=eval_items, user_ids=data.user_ids,
        item_ids=data.item_ids, train_times=data.times[train],
        train_weights=data.weights[train] if data.card.get("weighted") else None,
        item_titles=data.titles)
