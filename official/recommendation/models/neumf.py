"""GMF, MLP and NeuMF (He et al., "Neural Collaborative Filtering", WWW 2017).

One Keras 3 model class covers the three variants. Each side keeps **one
fused embedding table**: user row = [GMF factors | MLP half-embedding], and
the same for items, so a batch does one gather per side instead of four.

* GMF:   logit = h^T (p_u ⊙ q_i)
* MLP:   logit = h^T relu(W_L ... relu(W_1 [p_u ; q_i]))
* NeuMF: logit = h^T [p_u ⊙ q_i ; MLP tower output]

Embeddings are initialized N(0, 0.01) as in the paper; the output layer uses
LeCun-uniform. L2 regularization (`mf_regularization`, `mlp_regularization`)
applies to the embedding rows of the batch.
"""

from collections.abc import Sequence

import keras
from keras import ops

from official.recommendation.config.configs import parse_layers
from official.recommendation.serving import fold_in

MODEL_TYPES = ("neumf", "gmf", "mlp")  # the variants this class builds


def build(num_users: int, num_items: int, config, train_users=None, train_items=None
          ) -> "NeuMF":
    """The registry's builder: a built NeuMF, GMF or MLP (`config.model_type`) of `config`."""
    del train_users, train_items  # trained, not fitted here
    model = NeuMF(num_users, num_items, config.model_type, config.num_factors, config.layers,
                  config.mf_regularization, config.mlp_regularization)
    model({"user_id": ops.zeros([1], "int32"), "item_id": ops.zeros([1], "int32")})
    return model


@keras.saving.register_keras_serializable(package="official")
class NeuMF(keras.Model):
    """NCF scorer: inputs {"user_id", "item_id"} int32 [B] -> logits float32 [B].

    A `Recommender` and an `SGDRecommender` (`models.interface`).
    """

    scores_by_user = False

    def fold_in_logits(self, histories, settings):
        """Logits float32 [B, I] of new users (int32 ragged [B, (H)]): `fold_in.factor_logits`."""
        return fold_in.factor_logits(self, histories, settings)

    @property
    def fold_in_method(self) -> str:
        """The fold-in `fold_in.FoldInSettings(method="auto")` runs for this model.

        MLP: Adam (on fold_in_benchmark its HR@10 gap was 0.004 by 100 Adam
        steps and 0.018-0.024 by Gauss-Newton); GMF and NeuMF: Gauss-Newton.
        """
        return "adam" if self.model_type == "mlp" else "newton"

    def __init__(self, num_users: int, num_items: int, model_type: str = "neumf",
                 num_factors: int = 8, layers: Sequence[int] = (64, 32, 16, 8),
                 mf_regularization: float = 0.0, mlp_regularization: float = 0.0,
                 **kwargs):
        super().__init__(**kwargs)
        if model_type not in MODEL_TYPES:
            raise ValueError(f"model_type must be one of {MODEL_TYPES}, got {model_type!r}")
        if num_users <= 0 or num_items <= 0:
            raise ValueError(f"num_users and num_items must be positive, got "
                             f"{num_users}, {num_items}")
        if num_factors <= 0:
            raise ValueError(f"num_factors must be positive, got {num_factors}")
        self.num_users, self.num_items = int(num_users), int(num_items)
        self.model_type = model_type
        self.num_factors = int(num_factors)
        self.layer_sizes = parse_layers(layers)
        self.mf_regularization = float(mf_regularization)
        self.mlp_regularization = float(mlp_regularization)
        self.mf_dim = self.num_factors if model_type in ("neumf", "gmf") else 0
        self.mlp_dim = self.layer_sizes[0] // 2 if model_type in ("neumf", "mlp") else 0
        width = self.mf_dim + self.mlp_dim
        init = keras.initializers.RandomNormal(0.0, 0.01)
        self.user_table = self.add_weight(shape=(self.num_users, width), initializer=init,
                                          name="user_embedding")
        self.item_table = self.add_weight(shape=(self.num_items, width), initializer=init,
                                          name="item_embedding")
        # A Sequential (not a list) so that tf.train.Checkpoint tracks the tower.
        self.tower = keras.Sequential(
            [keras.layers.Dense(units, activation="relu", name=f"mlp_{i}")
             for i, units in enumerate(self.layer_sizes[1:])] if self.mlp_dim else [],
            name="mlp_tower")
        self.head = keras.layers.Dense(1, kernel_initializer="lecun_uniform", name="prediction")
        self.build()  # All shapes follow from the config.

    def build(self, input_shape=None):
        """Builds the tower and head; their input sizes follow from the config."""
        if self.mlp_dim:
            self.tower.build((None, 2 * self.mlp_dim))
        tower_out = self.layer_sizes[-1] if self.mlp_dim else 0
        self.head.build((None, self.mf_dim + tower_out))
        self.built = True

    def embed(self, users, items):
        """Gathers the fused rows: float32 [B, mf_dim + mlp_dim] for users and items."""
        return ops.take(self.user_table, users, axis=0), ops.take(self.item_table, items, axis=0)

    def logits_from_embeddings(self, u, i):
        """Logits [B] from gathered user and item rows."""
        parts = []
        if self.mf_dim:
            parts.append(u[:, :self.mf_dim] * i[:, :self.mf_dim])
        if self.mlp_dim:
            x = ops.concatenate([u[:, self.mf_dim:], i[:, self.mf_dim:]], axis=1)
            parts.append(self.tower(x))
        x = parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=1)
        return ops.squeeze(self.head(x), axis=1)

    def grouped_logits(self, users, items, project_items: bool | None = None):
        """Logits [n, m] for each user scored against m items (training layout).

        The same function as `call` on the flattened pairs, computed without
        repeating per-user work: each user row is gathered once, and the first
        MLP layer is split into its user and item halves
        (`W [u; i] = W_u u + W_i i`), so `W_u u` runs once per user.

        When a step scores more pairs than there are items, the item half
        `W_i i + b` is computed once per item (`project_items`) and gathered
        per pair, instead of being computed per pair: the same function and
        gradients with fewer FLOPs (at ml-1m scale and 16K examples per step,
        4.4 times fewer for that layer).

        Args:
          users: int [n] user indices.
          items: int [n, m] item indices.
          project_items: True / False to force either evaluation order; None
            picks the projection when n * m > num_items (static shapes only).

        Returns:
          (logits float32 [n, m], user rows [n, W], item rows [n, m, W]); with
          the projection and no regularization the item rows are None (unused).
        """
        u = ops.take(self.user_table, users, axis=0)
        if project_items is None:
            n, m = items.shape[0], items.shape[1]
            project_items = n is not None and m is not None and n * m > self.num_items
        if not (project_items and self.mlp_dim):
            it = ops.take(self.item_table, items, axis=0)
            return self.grouped_logits_from_rows(u, it), u, it
        table = ops.convert_to_tensor(self.item_table)
        logits = self._grouped_head(u, ops.take(self._project(table), items, axis=0))
        # Item rows only where the regularizer needs them (it sees raw rows).
        it = (ops.take(self.item_table, items, axis=0)
              if self.mf_regularization or self.mlp_regularization else None)
        return logits, u, it

    def grouped_logits_from_rows(self, u, it):
        """`grouped_logits` from already gathered rows u [n, W], it [n, m, W] -> [n, m].

        Per-pair work runs on 2-D [n * m, features] tensors: a dense layer on a
        3-D input is a broadcast batch matmul whose kernel gradient XLA's CPU
        backend computes as per-row outer products, several times slower.
        """
        n, m = ops.shape(it)[0], ops.shape(it)[1]
        flat = self._project(ops.reshape(it, (n * m, ops.shape(it)[2])))
        return self._grouped_head(u, ops.reshape(flat, (n, m, ops.shape(flat)[1])))

    def _project(self, rows):
        """Item rows [k, W] -> projected rows [k, mf_dim + h] (float32).

        GMF factors, then `W_i i + b` of the first MLP layer (h = layers[1];
        the rows unchanged when there is no MLP).
        """
        if not self.mlp_dim:
            return rows
        first = self.tower.layers[0]
        mf = self.mf_dim
        return ops.concatenate(
            [rows[:, :mf], ops.matmul(rows[:, mf:], first.kernel[self.mlp_dim:]) + first.bias],
            axis=1)

    def _grouped_head(self, u, p):
        """Logits [n, m] from user rows u [n, W] and projected item rows p [n, m, mf + h]."""
        mf = self.mf_dim
        n, m = ops.shape(p)[0], ops.shape(p)[1]
        parts = []
        if mf:
            parts.append(ops.reshape(u[:, None, :mf] * p[:, :, :mf], (n * m, mf)))
        if self.mlp_dim:
            first, *rest = self.tower.layers
            user_part = ops.matmul(u[:, mf:], first.kernel[:self.mlp_dim])  # [n, h], once per user
            h = ops.relu(ops.reshape(p[:, :, mf:] + user_part[:, None, :], (n * m, -1)))
            for dense in rest:
                h = dense(h)
            parts.append(h)
        x = parts[0] if len(parts) == 1 else ops.concatenate(parts, axis=-1)
        return ops.reshape(self.head(x), (n, m))

    def fold_in_jacobian_fn(self, rows):
        """The function u [B, W] -> (logits [B, M], Jacobian [B, M, W]) on item rows [B, M, W].

        What `fold_in.newton_user_rows` needs, computed per side: the item
        rows are projected once (`_project`), the GMF part's Jacobian is
        constant (h_mf * q), and the MLP part's is the gradient at the first
        layer's pre-activation (one backward pass through the layers after it)
        times that layer's user kernel, so no step multiplies a user row per
        example.
        """
        import tensorflow as tf

        n, m, width = tf.shape(rows)[0], tf.shape(rows)[1], tf.shape(rows)[2]
        p = tf.reshape(self._project(tf.reshape(rows, [n * m, width])), [n, m, -1])
        mf = self.mf_dim
        head_w = tf.convert_to_tensor(self.head.kernel)[:, 0]
        mf_jacobian = p[:, :, :mf] * head_w[:mf]  # [n, m, mf]

        def logits_and_jacobian(u):
            logits = tf.einsum("bmf,bf->bm", mf_jacobian, u[:, :mf]) + self.head.bias[0]
            if not self.mlp_dim:
                return logits, mf_jacobian
            first, *rest = self.tower.layers
            user_kernel = tf.convert_to_tensor(first.kernel)[:self.mlp_dim]
            z = tf.matmul(u[:, mf:], user_kernel)[:, None, :] + p[:, :, mf:]  # [n, m, h]
            with tf.GradientTape() as tape:
                tape.watch(z)
                h = tf.nn.relu(tf.reshape(z, [n * m, -1]))
                for dense in rest:
                    h = dense(h)
                tower = tf.reshape(tf.linalg.matvec(h, head_w[mf:]), [n, m])
            g = tape.gradient(tower, z)  # [n, m, h]
            mlp_jacobian = tf.einsum("bmh,dh->bmd", g, user_kernel)
            return logits + tower, tf.concat([mf_jacobian, mlp_jacobian], axis=-1)

        return logits_and_jacobian

    def grouped_regularization(self, u, it):
        """L2 penalty of the flattened pairs' rows: each user row counts m times.

        `it` may be None when both weights are zero (see `grouped_logits`).
        """
        total = 0.0
        if it is None:
            return total
        m = ops.cast(ops.shape(it)[1], u.dtype)
        for weight, lo, hi in ((self.mf_regularization, 0, self.mf_dim),
                               (self.mlp_regularization, self.mf_dim,
                                self.mf_dim + self.mlp_dim)):
            if weight and hi > lo:
                total += weight * (m * ops.sum(ops.square(u[:, lo:hi]))
                                   + ops.sum(ops.square(it[:, :, lo:hi])))
        return total

    def all_item_logits(self, users):
        """Logits float32 [n, num_items] of each user against every item (full ranking).

        The same function as `call` on all pairs, computed per side where it
        factorizes: the GMF term through the output weights is one matmul
        `(p_u ⊙ h_mf) q^T`, and the first MLP layer is `W_u u` per user plus
        `W_i i` per item; only the layers after the first run per pair
        (memory: n * num_items * layers[1] floats).

        Args:
          users: int [n] user indices.
        """
        return self.all_item_logits_from_rows(ops.take(self.user_table, users, axis=0))

    def all_item_logits_from_rows(self, u):
        """`all_item_logits` of fused user rows u float32 [n, W] (e.g. folded-in users)."""
        items = ops.convert_to_tensor(self.item_table)
        mf = self.mf_dim
        head_w = self.head.kernel  # [mf + tower_out, 1]
        logits = self.head.bias[0]
        if mf:
            logits = logits + ops.matmul(u[:, :mf] * head_w[:mf, 0], ops.transpose(items[:, :mf]))
        if self.mlp_dim:
            first, *rest = self.tower.layers
            a = ops.matmul(u[:, mf:], first.kernel[:self.mlp_dim])  # [n, h]
            b = self._project(items)[:, mf:]  # [I, h]
            h = ops.relu(a[:, None, :] + b[None, :, :])
            for dense in rest:
                h = dense(h)
            logits = logits + ops.squeeze(ops.matmul(h, head_w[mf:]), axis=-1)
        return logits

    def call(self, inputs):
        """Logits float32 [B] for inputs {"user_id": int [B], "item_id": int [B]}."""
        u, i = self.embed(inputs["user_id"], inputs["item_id"])
        return self.logits_from_embeddings(u, i)

    def get_config(self):
        """Constructor arguments, for Keras serialization."""
        return {**super().get_config(), "num_users": self.num_users,
                "num_items": self.num_items, "model_type": self.model_type,
                "num_factors": self.num_factors, "layers": self.layer_sizes,
                "mf_regularization": self.mf_regularization,
                "mlp_regularization": self.mlp_regularization}
