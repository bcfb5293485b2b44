"""NCF preprocessing: filter, id maps, leave-one-out split, evaluation negatives.

From `<data_dir>/<dataset>/ratings.csv` (any dataset of
`official.datasets.movielens`), vectorized:

1. keep users with at least `min_ratings` ratings (20, as in the paper);
2. map users and items to contiguous 0-based indices (sorted raw ids);
3. leave-one-out: each user's latest rating is the test positive. Ties in
   timestamp go to the row that comes later in ratings.csv (stable sort);
4. `num_eval_negatives` evaluation negatives per user: items the user never
   rated, sampled uniformly without replacement, deterministic for `seed`.

The result is cached under `<data_dir>/<dataset>/ncf-<key>/`, where the key
hashes the dataset manifest (or ratings.csv's size and mtime) and the
parameters; the directory is written atomically, the evaluation set through
`file_io` buffers.

`authors_split.read_ncf_split` reads the NCF authors' published split instead.
"""

import dataclasses
import hashlib
import json
import os
import zipfile

import numpy as np
import pandas as pd
from absl import logging

from official.datasets import interactions_clean, movielens
from official.utils.data import file_io
from official.utils.errors import DataError
from official.utils.misc import array_ops, atomic_io, integrity

CACHE_VERSION = 3  # 3: content checksums, metadata checked against the arrays
MIN_RATINGS = 20


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


def preprocess(ratings: pd.DataFrame, num_eval_negatives: int = 100, seed: int = 0,
               min_ratings: int = MIN_RATINGS) -> NCFData:
    """Builds `NCFData` from a ratings frame (user_id, item_id, timestamp columns).

    MovieLens is one source of the shared preparation: its ratings go through
    `interactions_clean.clean` with the paper's filter (users with at least
    `min_ratings` ratings; every rating a positive), then `from_interactions`.

    Raises:
      DataError: no user has `min_ratings` ratings, or too few items.
    """
    user_codes, user_ids = pd.factorize(ratings[movielens.USER_COLUMN].to_numpy(), sort=True)
    item_codes, item_ids = pd.factorize(ratings[movielens.ITEM_COLUMN].to_numpy(), sort=True)
    counts = np.bincount(user_codes)
    if counts.max() < min_ratings:
        raise DataError(f"no user has at least {min_ratings} ratings "
                        f"({len(counts)} users, at most {counts.max()} ratings each)")
    data = interactions_clean.clean(
        user_codes, item_codes, np.asarray(user_ids, np.int64), np.asarray(item_ids, np.int64),
        times=ratings[movielens.TIMESTAMP_COLUMN].to_numpy().astype(np.int64),
        min_user=min_ratings, source="ratings.csv")
    return from_interactions(data, num_eval_negatives, seed)


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
        from official.recommendation.data.validation_split import latest_per_user

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


# ----------------------------------------------------------------------------
# Cache.
# ----------------------------------------------------------------------------

def _source_key(data_dir: str, dataset: str) -> str:
    manifest = atomic_io.read_json(os.path.join(data_dir, dataset, movielens.MANIFEST_FILE))
    if manifest:
        return json.dumps({"files": manifest.get("files"), "md5": manifest.get("source_md5"),
                           "synthetic": manifest.get("synthetic")}, sort_keys=True)
    path = os.path.join(data_dir, dataset, movielens.RATINGS_FILE)
    st = os.stat(path)
    return f"{st.st_size}:{st.st_mtime_ns}"


def cache_dir(data_dir: str, dataset: str, num_eval_negatives: int, seed: int) -> str:
    """The cache directory for this source and these parameters."""
    params = json.dumps({"v": CACHE_VERSION, "neg": num_eval_negatives, "seed": seed,
                         "min": MIN_RATINGS, "src": _source_key(data_dir, dataset)},
                        sort_keys=True)
    key = hashlib.sha1(params.encode()).hexdigest()[:12]
    return os.path.join(data_dir, dataset, f"ncf-{key}")


def _load_cache(path: str) -> NCFData | None:
    """The cached data if the cache is complete, intact and consistent, else None."""
    if not os.path.isdir(path):
        return None
    meta = atomic_io.read_json(os.path.join(path, "meta.json"))
    if not isinstance(meta, dict) or meta.get("version") != CACHE_VERSION:
        logging.warning("NCF cache %s has no valid meta.json; rebuilding it", path)
        return None
    damage = integrity.first_mismatch(path, meta.get("files"))
    if damage:
        logging.warning("NCF cache %s: %s; rebuilding it", path, damage)
        return None
    try:
        with np.load(os.path.join(path, "train.npz")) as z:
            arrays = {k: z[k] for k in z.files}
        evaluation = file_io.read_all(os.path.join(path, "eval"))
        data = NCFData(num_users=meta["num_users"], num_items=meta["num_items"],
                       train_users=arrays["train_users"], train_items=arrays["train_items"],
                       eval_users=evaluation["user"], eval_items=evaluation["items"],
                       user_ids=arrays["user_ids"], item_ids=arrays["item_ids"],
                       train_times=arrays["train_times"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        logging.warning("NCF cache %s cannot be read (%s); rebuilding it", path, e)
        return None
    problem = _inconsistency(data, meta)
    if problem:
        logging.warning("NCF cache %s: %s; rebuilding it", path, problem)
        return None
    return data


def _inconsistency(data: NCFData, meta: dict) -> str | None:
    """What in the cached arrays disagrees with meta.json (or itself), else None."""
    checks = [
        (len(data.user_ids) == data.num_users, "num_users differs from the user id map"),
        (len(data.item_ids) == data.num_items, "num_items differs from the item id map"),
        (len(data.train_users) == len(data.train_items) == len(data.train_times)
         == meta.get("train_positives"), "training arrays disagree in length"),
        (len(data.eval_users) == len(data.eval_items), "evaluation arrays disagree"),
        (not len(data.train_users) or (data.train_users.min() >= 0
                                       and data.train_users.max() < data.num_users),
         "a training user is out of range"),
        (not len(data.train_items) or (data.train_items.min() >= 0
                                       and data.train_items.max() < data.num_items),
         "a training item is out of range"),
        (not data.eval_items.size or (data.eval_items.min() >= 0
                                      and data.eval_items.max() < data.num_items),
         "an evaluation item is out of range"),
    ]
    return next((what for ok, what in checks if not ok), None)


def _write_cache(path: str, data: NCFData) -> None:
    with atomic_io.atomic_directory(path) as tmp:
        np.savez(os.path.join(tmp, "train.npz"), train_users=data.train_users,
                 train_items=data.train_items, user_ids=data.user_ids, item_ids=data.item_ids,
                 train_times=data.train_times)
        frame = pd.DataFrame({"user": data.eval_users, "items": list(data.eval_items)})
        file_io.write_to_buffer(frame, os.path.join(tmp, "eval"), ["user", "items"])
        atomic_io.write_json(os.path.join(tmp, "meta.json"), {
            "version": CACHE_VERSION, "num_users": data.num_users,
            "num_items": data.num_items, "train_positives": int(len(data.train_users)),
            "files": integrity.describe(tmp, ["train.npz"])})


def load_movielens(data_dir: str, dataset: str, num_eval_negatives: int = 100,
                   seed: int = 0) -> NCFData:
    """Preprocessed NCF data for a normalized dataset, from cache when intact."""
    atomic_io.remove_stale_temporaries(os.path.join(data_dir, dataset))  # killed cache builds
    path = cache_dir(data_dir, dataset, num_eval_negatives, seed)
    data = _load_cache(path)
    if data is not None:
        logging.info("Using cached NCF data %s", path)
        return data
    logging.info("Preprocessing %s for NCF (cache: %s)", dataset, path)
    ratings = movielens.ratings_csv_to_dataframe(data_dir, dataset)
    data = preprocess(ratings, num_eval_negatives, seed)
    _write_cache(path, data)
    logging.info("NCF data: %d users, %d items, %d training positives, %d eval negatives "
                 "per user", data.num_users, data.num_items, len(data.train_users),
                 data.num_eval_negatives)
    return data
