"""Lazy Adam for NCF's embedding tables: moments and rows updated only where touched."""

import tensorflow as tf

# lazy_adam updates a table row-wise only if it has this many times more rows
# than one step touches; otherwise a dense update is cheaper.
LAZY_ROWS_FACTOR = 4


class LazyAdamSlots(tf.Module):
    """Adam moments of the two embedding tables, updated only on touched rows.

    Like TensorFlow Addons' LazyAdam: a row's moments decay only when the row
    is in the batch; bias correction uses the global step.
    """

    def __init__(self, user_table, item_table):
        """Slots for the given tables; pass None for a table updated densely."""
        super().__init__(name="lazy_adam")
        self.tables = (user_table, item_table)
        # String keys: tf.train.Checkpoint tracks dicts only with string keys.
        self.m = {str(i): tf.Variable(tf.zeros(t.shape), trainable=False, name=f"m_{i}")
                  for i, t in enumerate(self.tables) if t is not None}
        self.v = {str(i): tf.Variable(tf.zeros(t.shape), trainable=False, name=f"v_{i}")
                  for i, t in enumerate(self.tables) if t is not None}

    def update(self, which: int, indices, grads, lr, cfg, presorted: bool = False) -> None:
        """Adam update of rows `indices` (may repeat; their gradients are summed).

        XLA-compatible (static shapes, no `tf.unique`): indices are sorted,
        each run of equal indices gets the sum of its gradients, and every
        position of a run writes the same new row, so duplicate writes agree.
        """
        if presorted:
            idx, g = indices, grads
        else:
            order = tf.argsort(indices, stable=True)
            idx, g = tf.gather(indices, order), tf.gather(grads, order)
        first = tf.concat([tf.ones([1], tf.bool), idx[1:] != idx[:-1]], axis=0)
        run = tf.cumsum(tf.cast(first, tf.int32)) - 1
        g = tf.gather(tf.math.unsorted_segment_sum(g, run, tf.shape(idx)[0]), run)
        table = self.tables[which].value
        m_slot, v_slot = self.m[str(which)], self.v[str(which)]
        m = cfg.beta1 * tf.gather(m_slot, idx) + (1 - cfg.beta1) * g
        v = cfg.beta2 * tf.gather(v_slot, idx) + (1 - cfg.beta2) * tf.square(g)
        rows = tf.gather(table, idx) - lr * m / (tf.sqrt(v) + cfg.epsilon)
        m_slot.scatter_update(tf.IndexedSlices(m, idx))
        v_slot.scatter_update(tf.IndexedSlices(v, idx))
        table.scatter_update(tf.IndexedSlices(rows, idx))
