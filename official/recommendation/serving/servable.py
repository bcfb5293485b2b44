"""One loaded export as the server uses it: id maps, signatures, batched model calls, warm-up.

A `Servable` wraps the object `tf.saved_model.load` returned for one
export version. Its two `Batcher`s run requests by user id
(`recommend`) and by history (`recommend_for_histories`: new users
folded in together) on the server's model threads; a request keeps the
servable it started on, so a version swap never changes a request's model
halfway.
"""

import dataclasses
import time

import numpy as np
import tensorflow as tf

from official.recommendation.serving import protocol
from official.recommendation.serving.batching import Batcher


@dataclasses.dataclass(frozen=True)
class BatchSettings:
    """How requests are batched (the server's flags).

    Attributes:
      window_s: how long a first request waits for others (0: no batching).
      max_batch: most requests in one model call.
      max_history_items: most padded history entries (requests x longest
        history) in one fold-in call.
      threads: model calls at once.
    """

    window_s: float = 0.002
    max_batch: int = 64
    max_history_items: int = 4096
    threads: int = 1


def _padded_items(histories: list) -> int:
    return len(histories) * max(len(h) for h in histories)


class Servable:
    """One export version, ready to answer (see the module docstring).

    Args:
      export: the loaded export (`recommend.load_export`).
      version: its version number (1 for a lone --export_dir).
      path: its directory.
      batching: `BatchSettings`.
      executor: the server's model threads.
      on_batch: called with (kind "by_id" or "by_history", batch size).
    """

    def __init__(self, export, version: int, path: str, batching: BatchSettings, executor,
                 on_batch=None):
        self.export, self.version, self.path = export, version, path
        self.executor = executor
        maps = export.id_maps()
        self.user_ids = np.sort(maps["user_ids"].numpy())
        self.text_users = self.user_ids.dtype.kind in "SO"
        if self.text_users:
            self.user_ids = np.sort(self.user_ids.astype(bytes))
        self.item_ids = maps["item_ids"].numpy()
        self.item_dtype = maps["item_ids"].dtype.name  # "int64", or "string" for text ids
        self.num_items = int(maps["item_ids"].shape[0])
        self.specs = {name: {k: (spec.dtype.name, tuple(spec.shape.as_list()))
                             for k, spec in fn.structured_input_signature[1].items()}
                      for name, fn in export.signatures.items()}

        def counted(kind):
            return None if on_batch is None else (lambda n: on_batch(kind, n))

        self.by_id = Batcher(self.recommend_users, batching.window_s, batching.max_batch,
                             executor, batching.threads, on_batch=counted("by_id"))
        self.by_history = Batcher(self.recommend_histories, batching.window_s,
                                  batching.max_batch, executor, batching.threads,
                                  cost=_padded_items, max_cost=batching.max_history_items,
                                  on_batch=counted("by_history"))

    def knows_user(self, key) -> bool:
        """Whether `key` (int, or bytes for text ids) is a trained user of this version."""
        pos = np.searchsorted(self.user_ids, key)
        return bool(pos < len(self.user_ids) and self.user_ids[pos] == key)

    def recommend_users(self, users: list, k: int) -> list[dict]:
        """One `recommend` call for `users` (raw ids); one dict of output rows per user."""
        out = self.export.recommend(user_id=tf.constant(np.array(users)),
                                    k=tf.constant(k, tf.int32))
        out = {n: v.numpy() for n, v in out.items()}
        return [{n: v[row] for n, v in out.items()} for row in range(len(users))]

    def recommend_histories(self, histories: list, k: int) -> list[dict]:
        """One fold-in call for `histories` (raw id arrays); one result dict per history.

        Exports written before batched fold-in are called once per history.
        """
        if not hasattr(self.export, "recommend_for_histories"):
            return [self._one_history(h, k) for h in histories]
        lengths = np.array([len(h) for h in histories], np.int32)
        flat = np.concatenate(histories) if lengths.sum() else np.zeros(0, histories[0].dtype)
        out = self.export.recommend_for_histories(item_id=tf.constant(flat),
                                                  row_lengths=tf.constant(lengths),
                                                  k=tf.constant(k, tf.int32))
        out = {n: v.numpy() for n, v in out.items()}
        unknown = np.split(out["unknown_item_id"], np.cumsum(out["unknown_row_lengths"])[:-1])
        return [{"item_id": out["item_id"][row], "score": out["score"][row],
                 "title": out["title"][row], "genres": out["genres"][row],
                 "unknown_item_id": unknown[row], "rated": out["rated"][row],
                 "fallback": out["fallback"][row]} for row in range(len(histories))]

    def _one_history(self, items: np.ndarray, k: int) -> dict:
        out = self.export.recommend_for_history(item_id=tf.constant(items),
                                                k=tf.constant(k, tf.int32))
        return {n: v.numpy() for n, v in out.items()}

    def predict(self, name: str, arrays: dict) -> dict:
        """The signature `name` on `arrays` (numpy); its errors as `protocol.RequestError`."""
        try:
            out = self.export.signatures[name](**{k: tf.constant(v) for k, v in arrays.items()})
        except tf.errors.InvalidArgumentError as e:
            raise protocol.RequestError(protocol.tf_error_line(e.message)) from None
        return {n: v.numpy() for n, v in out.items()}

    def warm(self) -> float:
        """Runs every endpoint once (TensorFlow optimizes each graph on its first call).

        Returns:
          Seconds taken. Raises whatever a broken export raises.
        """
        start = time.perf_counter()
        users = list(self.user_ids[:2].astype(str) if self.text_users else self.user_ids[:2])
        self.recommend_users(users, 10)
        self.recommend_histories([self.item_ids[:3], self.item_ids[3:4]], 10)
        if "serving_default" in self.export.signatures:
            self.export.signatures["serving_default"](
                user_id=tf.constant(np.array(users[:1])), item_id=tf.constant(self.item_ids[:1]))
        return time.perf_counter() - start
