"""Validation split for honest model selection: one training positive per user held out.

The test set (the leave-one-out positive and its sampled negatives) is read
once, after the epoch / settings are chosen. What is chosen is chosen on a
validation set carved out of the **training** positives only:

* per user with at least two training positives, the latest one (largest
  timestamp) is held out; ties, and users whose timestamps are unknown (-1,
  as for users 3000+ of the NCF authors' ml-1m file), are broken by a
  seeded uniform draw;
* `num_negatives` validation negatives per user, sampled without
  replacement from the items the user has not trained on (the held-out item
  excluded), deterministic for the seed. Nothing about the test set enters:
  the test item may even be drawn as a validation negative.

`split` returns the data the trainer sees (training positives minus the
validation ones, the validation set as its evaluation set) and the test set
separately, as an `EvalSet` that also carries the full training positives
(what a full-ranking test evaluation must exclude).
"""

import dataclasses

import numpy as np

from official.recommendation.data.implicit_data import (  # noqa: F401  (latest_per_user: API)
    NCFData,
    latest_per_user,
    sample_negatives_without_replacement,
)
from official.utils.errors import DataError


@dataclasses.dataclass(frozen=True)
class EvalSet:
    """Held-out positives with their sampled negatives.

    Attributes:
      users: int32 [U] evaluated users.
      items: int32 [U, 1 + N]: column 0 the held-out positive, then N negatives.
      seen_users, seen_items: int32 [S] positives, sorted by user, that a
        full-ranking evaluation excludes; None means the trainer's training
        positives.
      offsets, positives: int64 [U + 1] / int32 [H] every held-out positive
        of each user (several per user: the temporal split), or None.
    """

    users: np.ndarray
    items: np.ndarray
    seen_users: np.ndarray | None = None
    seen_items: np.ndarray | None = None
    offsets: np.ndarray | None = None
    positives: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.users)


def split(data: NCFData, num_negatives: int, seed: int) -> tuple[NCFData, EvalSet]:
    """(training data with the validation set as its evaluation set, test set).

    Args:
      data: the full data; its `eval_*` arrays are the test set (possibly
        empty, when the test files are withheld).
      num_negatives: validation negatives per user.
      seed: seeds the tie-breaks and the negatives.

    Raises:
      DataError: no user has two training positives, or a user has too few
        untrained items for the negatives.
    """
    rng = np.random.default_rng([seed, 0x5A11D])
    held = latest_per_user(data.train_users, data.train_times, data.num_users, rng)
    val_users = np.flatnonzero(held >= 0).astype(np.int32)
    if val_users.size == 0:
        raise DataError("no user has two training positives: cannot hold out a validation "
                        "set (use --novalidation)")
    keep = np.ones(len(data.train_users), bool)
    keep[held[val_users]] = False
    num_items = data.num_items
    trained = data.train_users.astype(np.int64) * num_items + data.train_items  # sorted
    negatives = sample_negatives_without_replacement(
        trained, data.num_users, num_items, num_negatives, rng)[val_users]
    val_items = np.concatenate([data.train_items[held[val_users]][:, None], negatives], axis=1)
    times = None if data.train_times is None else data.train_times[keep]
    weights = None if data.train_weights is None else data.train_weights[keep]
    train = dataclasses.replace(
        data, train_users=data.train_users[keep], train_items=data.train_items[keep],
        train_times=times, train_weights=weights, eval_users=val_users,
        eval_items=val_items.astype(np.int32))
    test = EvalSet(data.eval_users, data.eval_items, data.train_users, data.train_items)
    return train, test

