"""Training examples for NCF: exact negative sampling, in-graph and per batch.

Training positives stay in TensorFlow as tensors. Each step takes the next
`positives_per_step` positives of the epoch's permutation and draws `num_neg`
negatives for each, uniformly from the items that user has not rated in
training — exactly (never a training positive), with no rejection loop:

For user u with sorted positives p_0 < p_1 < ... < p_{k-1}, let
`gap_j = p_j - j` (non-positives before p_j). The r-th non-positive item
(0-based, r uniform in [0, num_items - k)) is `r + #{j : gap_j <= r}`. All
users' gaps are kept in one sorted int64 array of keys `u * num_items +
gap_j`, so the count is one `searchsorted` for the whole batch.

Randomness is stateless, keyed by (seed, epoch, step): a run resumed from a
checkpoint replays the same epochs as an uninterrupted one.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf


@dataclasses.dataclass
class SamplerTables:
    """Numpy tables for the sampler, built once from sorted training positives.

    Attributes:
      gap_keys: int64 [P] sorted keys `user * num_items + (item - rank in user)`.
      offsets: int64 [U + 1] CSR offsets of each user's positives.
      num_items: int.
    """

    gap_keys: np.ndarray
    offsets: np.ndarray
    num_items: int


def build_sampler_tables(train_users: np.ndarray, train_items: np.ndarray, num_users: int,
                         num_items: int) -> SamplerTables:
    """Builds sampler tables from positives sorted by (user, item)."""
    counts = np.bincount(train_users, minlength=num_users)
    offsets = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
    rank = np.arange(len(train_users), dtype=np.int64) - offsets[train_users]
    gap_keys = train_users.astype(np.int64) * num_items + (train_items - rank)
    return SamplerTables(gap_keys=gap_keys, offsets=offsets, num_items=num_items)


def sample_negatives(users: tf.Tensor, gap_keys: tf.Tensor, offsets: tf.Tensor,
                     num_items: int, seed: tf.Tensor) -> tf.Tensor:
    """Uniform negatives for `users`, never one of the user's training positives.

    Args:
      users: int32 [N] user indices.
      gap_keys: int64 [P] from `build_sampler_tables`.
      offsets: int64 [U + 1] from `build_sampler_tables`.
      num_items: number of items.
      seed: int32/int64 [2] stateless seed.

    Returns:
      int32 [N] item indices.
    """
    users64 = tf.cast(users, tf.int64)
    start = tf.gather(offsets, users64)
    count = tf.gather(offsets, users64 + 1) - start
    free = tf.cast(num_items, tf.int64) - count
    u = tf.random.stateless_uniform(tf.shape(users), seed=seed, dtype=tf.float64)
    r = tf.minimum(tf.cast(tf.floor(u * tf.cast(free, tf.float64)), tf.int64), free - 1)
    below = tf.searchsorted(gap_keys, users64 * num_items + r, side="right",
                            out_type=tf.int64) - start
    return tf.cast(r + below, tf.int32)
