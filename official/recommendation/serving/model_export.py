"""SavedModel export of a trained NCF model, keyed by raw MovieLens ids.

Written with `keras.export.ExportArchive`. Endpoints (also SavedModel
signatures):

* `serving_default(user_id: int64 [N], item_id: int64 [N])` ->
  `{"score": float32 [N] (probability), "logit": float32 [N]}`. Ids are
  raw ids (MovieLens ids, or a log's own), not internal indices; a log
  with text ids is served by `string` ids everywhere below, not `int64`.
  An id that was not in the training data makes the call fail with
  `InvalidArgumentError: unknown user_id ...` or `unknown item_id ...` (no
  silent fallback).
* `id_maps()` -> `{"user_ids": int64 [U], "item_ids": int64 [I]}`: the raw id
  of each internal index, so tools can enumerate users and items from the
  export alone.
* `recommend(user_id: int64 [N], k: int32 [])` -> `{"item_id": int64 [N, k],
  "score": float32 [N, k] (logits, best first), "title": string [N, k],
  "genres": string [N, k], "rated": int64 [N]}`: each user's top-k items
  among those it did not rate (training and held-out ratings), and how many
  it rated. The export carries the training positives (CSR:
  `seen_offsets` int64 [U + 1], `seen_items` int32 [P]) and the item titles
  and genres ("" when unknown), so `official.recommendation.recommend` needs
  nothing but the export. Users who have rated all but j < k items get
  those j first and then score `-inf` entries (to be dropped). k is capped at
  the number of items. Ties keep the lower internal index first, so results
  are deterministic.
* `recommend_for_history(item_id: int64 [H], k: int32 [])` -> `{"item_id":
  int64 [k], "score": float32 [k], "title": string [k], "genres": string
  [k], "unknown_item_id": int64 [U], "rated": int32 [], "fallback": bool
  []}`: the top-k items
  for a user who is not in the training data, from the raw ids of the items
  they rated (order and repeats do not matter), folded in with the item side
  frozen (`fold_in`); history items are never returned. `rated` counts
  the distinct history items the model knows; the others are returned once
  each in `unknown_item_id` (not an error); with no
  known item left the answer is the most popular items (training
  positives), and `fallback` is true.
* `recommend_for_histories(item_id: int64 [T], row_lengths: int32 [B], k:
  int32 [])` -> the same for B new users in one call (the server batches
  history requests through it): their histories concatenated, `row_lengths`
  long each; outputs [B, k] and [B], with the unknown ids of all users
  concatenated in `unknown_item_id` and `unknown_row_lengths` int32 [B]
  saying how many are each user's. Each user gets exactly what
  `recommend_for_history` gives it alone (which runs this with B = 1).
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from official.datasets import movielens
from official.recommendation.serving.fold_in import FoldInSettings, history_logits, history_pairs
from official.utils.misc import array_ops, saved_model_export

DEFAULT_FOLD_IN = FoldInSettings()  # frozen


@dataclasses.dataclass
class ItemInfo:
    """What `recommend` shows and filters, indexed like the model's items and users.

    Attributes:
      rated_users, rated_items: int [P] every rated pair (training and
        held-out), sorted by user; `recommend` never returns them.
      titles, genres: str [I] per item index ("" when unknown).
    """

    rated_users: np.ndarray
    rated_items: np.ndarray
    titles: np.ndarray | None = None
    genres: np.ndarray | None = None


def titles_and_genres(data_dir: str, dataset: str, item_ids: np.ndarray
                      ) -> tuple[np.ndarray, np.ndarray]:
    """(titles, genres) str arrays shaped like `item_ids` (raw ids), from movies.csv.

    Unknown ids get "". Raises FileNotFoundError / DataError like
    `movielens.movies_csv_to_dataframe`.
    """
    movies = movielens.movies_csv_to_dataframe(data_dir, dataset).set_index(
        movielens.ITEM_COLUMN).reindex(np.asarray(item_ids).reshape(-1))
    shape = np.shape(item_ids)
    return (movies[movielens.TITLE_COLUMN].fillna("").to_numpy(str).reshape(shape),
            movies[movielens.GENRE_COLUMN].fillna("").to_numpy(str).reshape(shape))


def first_in_row(values: tf.Tensor, rows: tf.Tensor) -> tf.Tensor:
    """Whether values[t] is the first of its value in its row: bool [T].

    Args:
      values: [T] ids (any dtype `tf.unique` takes), grouped by row.
      rows: int64 [T] the row of each value.
    """
    _, ids = tf.unique(values, out_idx=tf.int64)
    groups, group = tf.unique(rows * tf.size(values, tf.int64) + ids)
    first = tf.math.unsorted_segment_min(tf.range(tf.size(group)), group, tf.size(groups))
    return tf.scatter_nd(first[:, None], tf.ones_like(first), tf.shape(group)) > 0


def excluded(logits: tf.Tensor, items: tf.RaggedTensor) -> tf.Tensor:
    """`logits` [B, I] with -inf at each row's `items` (int32 ragged [B, (n)]): never returned."""
    where = history_pairs(items)
    return tf.tensor_scatter_nd_update(logits, where,
                                       tf.fill([tf.shape(where)[0]], float("-inf")))


def build_archive(model, user_ids: np.ndarray, item_ids: np.ndarray,
                  info: ItemInfo | None = None,
                  fold_in: FoldInSettings = DEFAULT_FOLD_IN
                  ) -> keras.export.ExportArchive:
    """An ExportArchive serving `model` on raw ids (see the module docstring)."""
    user_table = saved_model_export.index_table(user_ids)
    item_table = saved_model_export.index_table(item_ids)
    user_dtype = saved_model_export.id_dtype(user_ids)
    item_dtype = saved_model_export.id_dtype(item_ids)
    user_var = tf.Variable(tf.constant(user_ids, user_dtype), trainable=False, name="user_ids")
    item_var = tf.Variable(tf.constant(item_ids, item_dtype), trainable=False, name="item_ids")
    info = info or ItemInfo(np.zeros(0, np.int64), np.zeros(0, np.int64))
    num_items = len(item_ids)
    offsets = array_ops.csr_offsets(info.rated_users, len(user_ids))
    seen_offsets = tf.Variable(offsets.astype(np.int64), trainable=False, name="seen_offsets")
    seen_items = tf.Variable(info.rated_items.astype(np.int32), trainable=False,
                             name="seen_items")
    popularity = tf.Variable(np.log1p(np.bincount(info.rated_items, minlength=num_items))
                             .astype(np.float32), trainable=False, name="popularity")
    blank = np.full(num_items, "", object)
    titles = tf.Variable(np.asarray(info.titles if info.titles is not None else blank, object)
                         .astype(str), trainable=False, name="titles")
    genres = tf.Variable(np.asarray(info.genres if info.genres is not None else blank, object)
                         .astype(str), trainable=False, name="genres")
    archive = keras.export.ExportArchive()
    archive.track(model)
    for resource in (user_table, item_table, user_var, item_var, seen_offsets, seen_items,
                     titles, genres, popularity):
        archive.track(resource)

    def serve(user_id, item_id):
        users = user_table.lookup(user_id)
        items = item_table.lookup(item_id)
        checks = [
            tf.debugging.assert_non_negative(
                users, message="unknown user_id (not in the training data)"),
            tf.debugging.assert_non_negative(
                items, message="unknown item_id (not in the training data)"),
        ]
        with tf.control_dependencies(checks):
            logits = model({"user_id": users, "item_id": items})
        return {"score": tf.sigmoid(logits), "logit": logits}

    archive.add_endpoint("serving_default", serve, input_signature=[
        tf.TensorSpec([None], user_dtype, name="user_id"),
        tf.TensorSpec([None], item_dtype, name="item_id")])
    archive.add_endpoint("id_maps", lambda: {"user_ids": tf.identity(user_var),
                                             "item_ids": tf.identity(item_var)},
                         input_signature=[])

    def recommend(user_id, k):
        users = user_table.lookup(user_id)
        check = tf.debugging.assert_non_negative(
            users, message="unknown user_id (not in the training data)")
        with tf.control_dependencies([check]):
            logits = model.all_item_logits(users)
        seen = tf.gather(tf.RaggedTensor.from_row_splits(seen_items, seen_offsets), users)
        logits = excluded(logits, seen)
        top = tf.math.top_k(logits, tf.minimum(k, num_items))
        return {"item_id": tf.gather(item_var, top.indices), "score": top.values,
                "title": tf.gather(titles, top.indices),
                "genres": tf.gather(genres, top.indices), "rated": seen.row_lengths()}

    archive.add_endpoint("recommend", recommend, input_signature=[
        tf.TensorSpec([None], user_dtype, name="user_id"), tf.TensorSpec([], tf.int32, name="k")])

    def recommend_for_histories(item_id, row_lengths, k):
        lengths = tf.cast(row_lengths, tf.int64)
        check = tf.debugging.assert_equal(
            tf.reduce_sum(lengths), tf.size(item_id, tf.int64),
            message="row_lengths must add up to the number of item ids")
        nonneg = tf.debugging.assert_non_negative(lengths,
                                                  message="row_lengths must be >= 0")
        with tf.control_dependencies([check, nonneg]):
            rows = tf.repeat(tf.range(tf.size(lengths, tf.int64)), lengths)
        batch = tf.size(lengths)
        indices = item_table.lookup(item_id)
        known = indices >= 0
        first = first_in_row(item_id, rows)
        keep = known & first
        history = tf.RaggedTensor.from_value_rowids(
            tf.cast(tf.boolean_mask(indices, keep), tf.int32), tf.boolean_mask(rows, keep),
            nrows=tf.cast(batch, tf.int64))
        fallback = tf.equal(history.row_lengths(), 0)
        logits = tf.cond(tf.reduce_all(fallback),
                         lambda: tf.zeros([batch, num_items]),
                         lambda: history_logits(model, history, fold_in))
        logits = excluded(tf.where(fallback[:, None], popularity[None], logits), history)
        top = tf.math.top_k(logits, tf.minimum(k, num_items))
        unknown = ~known & first
        return {"item_id": tf.gather(item_var, top.indices), "score": top.values,
                "title": tf.gather(titles, top.indices),
                "genres": tf.gather(genres, top.indices),
                "unknown_item_id": tf.boolean_mask(item_id, unknown),
                "unknown_row_lengths": tf.math.bincount(
                    tf.cast(tf.boolean_mask(rows, unknown), tf.int32), minlength=batch,
                    maxlength=batch, dtype=tf.int32),
                "rated": tf.cast(history.row_lengths(), tf.int32), "fallback": fallback}

    archive.add_endpoint("recommend_for_histories", recommend_for_histories, input_signature=[
        tf.TensorSpec([None], item_dtype, name="item_id"),
        tf.TensorSpec([None], tf.int32, name="row_lengths"),
        tf.TensorSpec([], tf.int32, name="k")])

    def recommend_for_history(item_id, k):
        out = recommend_for_histories(item_id, tf.size(item_id)[None], k)
        return {"item_id": out["item_id"][0], "score": out["score"][0],
                "title": out["title"][0], "genres": out["genres"][0],
                "unknown_item_id": out["unknown_item_id"], "rated": out["rated"][0],
                "fallback": out["fallback"][0]}

    archive.add_endpoint("recommend_for_history", recommend_for_history, input_signature=[
        tf.TensorSpec([None], item_dtype, name="item_id"), tf.TensorSpec([], tf.int32, name="k")])
    return archive


def export(model, user_ids: np.ndarray, item_ids: np.ndarray, export_dir: str,
           info: ItemInfo | None = None,
           fold_in: FoldInSettings = DEFAULT_FOLD_IN) -> str:
    """Writes the SavedModel to `export_dir` atomically (temp dir, then rename)."""
    return saved_model_export.write_archive(
        build_archive(model, user_ids, item_ids, info, fold_in), export_dir)
