"""The temporal split of a log: one global time cut for test, one before it for validation.

With `--split temporal --test_fraction F` the latest F of all interactions
(by time; the cut is the time at that quantile, and every interaction at or
after it is held out) is the test set; the same share of what remains, cut
the same way, is the validation set; the rest trains. A user is evaluated
on all of its held-out items, if it also has a training positive (a model
knows nothing of a user without one). Nothing after a cut is seen before
it: no future leaks into training or selection.

Held-out items are a CSR (`eval_offsets` int64 [U + 1], `eval_positives`
int32 [S]) beside `eval_items` (its column 0 is each user's first held-out
item, for code that wants one); evaluation ranks every item (full ranking)
with Recall@K and NDCG@K as Liang et al. (2018) define them.
"""

import dataclasses

import numpy as np

from official.datasets.interactions_clean import Interactions
from official.recommendation.data.implicit_data import NCFData
from official.recommendation.data.validation_split import EvalSet
from official.utils.errors import DataError
from official.utils.misc import array_ops


def _cut(times: np.ndarray, fraction: float) -> int:
    """The time at which the latest `fraction` of `times` begins."""
    return int(np.quantile(times, 1.0 - fraction, method="higher"))


def _held_out(users: np.ndarray, items: np.ndarray, held: np.ndarray, num_users: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(eval users int32 [U], first item [U, 1], offsets int64 [U + 1], items int32 [S]).

    Users with a held-out positive and a training one; `held` bool [P] marks
    held-out positives (sorted by user).
    """
    trains = np.bincount(users[~held], minlength=num_users) > 0
    keep = held & trains[users]
    eval_users = np.unique(users[keep]).astype(np.int32)
    by_user = array_ops.csr_offsets(users[keep], num_users)
    offsets = np.append(by_user[eval_users], by_user[-1])  # rows of the evaluated users
    positives = items[keep].astype(np.int32)
    first = positives[offsets[:-1]][:, None] if len(eval_users) else np.zeros((0, 1), np.int32)
    return eval_users, first, offsets.astype(np.int64), positives


def from_interactions(log: Interactions, test_fraction: float) -> NCFData:
    """NCFData whose evaluation set is everything at or after the test cut.

    Raises:
      DataError: the log has no timestamps, or no user is left to evaluate.
    """
    if not 0 < test_fraction < 0.5:
        raise DataError(f"--test_fraction must be in (0, 0.5), got {test_fraction}")
    if not log.has_times:
        raise DataError("--split temporal needs times: give --timestamp_column")
    cut = _cut(log.times, test_fraction)
    held = log.times >= cut
    users, first, offsets, positives = _held_out(log.users, log.items, held, log.num_users)
    if not len(users):
        raise DataError(f"no user has interactions both before and after the test cut "
                        f"(time {cut}); lower --test_fraction")
    train = ~held
    return NCFData(
        num_users=log.num_users, num_items=log.num_items, train_users=log.users[train],
        train_items=log.items[train], eval_users=users, eval_items=first,
        user_ids=log.user_ids, item_ids=log.item_ids, train_times=log.times[train],
        train_weights=log.weights[train] if log.card.get("weighted") else None,
        item_titles=log.titles, eval_offsets=offsets, eval_positives=positives)


def split(data: NCFData, test_fraction: float) -> tuple[NCFData, EvalSet]:
    """(training data with the validation slice as its evaluation set, the test set).

    The validation slice is the latest interactions of the training data,
    as many as a `test_fraction` share of the whole log.

    Raises:
      DataError: no user is left to validate on.
    """
    fraction = test_fraction / (1.0 - test_fraction)  # of what remains before the test cut
    cut = _cut(data.train_times, fraction)
    held = data.train_times >= cut
    users, first, offsets, positives = _held_out(data.train_users, data.train_items, held,
                                                 data.num_users)
    if not len(users):
        raise DataError(f"no user has training interactions both before and after the "
                        f"validation cut (time {cut}); lower --test_fraction")
    keep = ~held
    train = dataclasses.replace(
        data, train_users=data.train_users[keep], train_items=data.train_items[keep],
        train_times=data.train_times[keep],
        train_weights=None if data.train_weights is None else data.train_weights[keep],
        eval_users=users, eval_items=first, eval_offsets=offsets, eval_positives=positives)
    test = EvalSet(data.eval_users, data.eval_items, data.train_users, data.train_items,
                   data.eval_offsets, data.eval_positives)
    return train, test
