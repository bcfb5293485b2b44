"""Paper-style NeuMF pretraining: initialize from trained GMF and MLP models.

He et al. (2017, Sec. 3.4.1): NeuMF's GMF and MLP parts take the pretrained
weights, and the output layer is the weighted concatenation
`h = [alpha * h_gmf ; (1 - alpha) * h_mlp]` (bias likewise), alpha = 0.5.
The GMF run must use the same --num_factors, the MLP run the same --layers.
A run that selected an epoch on validation contributes that epoch's weights
(`best-<epoch>/`), otherwise its latest checkpoint.
"""

import numpy as np
import tensorflow as tf

from official.recommendation.models.neumf import NeuMF
from official.utils import run_loop
from official.utils.errors import UserError, first_line

ALPHA = 0.5


def _restore(template: NeuMF, model_dir: str) -> NeuMF:
    template({"user_id": tf.zeros([1], tf.int32), "item_id": tf.zeros([1], tf.int32)})
    latest = run_loop.selected_weights(model_dir)
    if latest is None:
        raise UserError(f"{model_dir}: no checkpoint to pretrain from")
    try:
        tf.train.Checkpoint(model=template).read(latest).expect_partial() \
            .assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        raise UserError(f"{model_dir}: checkpoint does not match a {template.model_type} "
                        f"model of this shape ({first_line(e)})") from e
    return template


def init_from_pretrained(trainer, gmf_dir: str, mlp_dir: str, alpha: float = ALPHA) -> None:
    """Overwrites the trainer's NeuMF weights with pretrained GMF + MLP weights."""
    model = trainer.model
    common = dict(num_users=model.num_users, num_items=model.num_items,
                  num_factors=model.num_factors, layers=model.layer_sizes)
    gmf = _restore(NeuMF(model_type="gmf", **common), gmf_dir)
    mlp = _restore(NeuMF(model_type="mlp", **common), mlp_dir)
    for table, g, m in ((model.user_table, gmf.user_table, mlp.user_table),
                        (model.item_table, gmf.item_table, mlp.item_table)):
        table.assign(np.concatenate([g.numpy(), m.numpy()], axis=1))
    for dense, source in zip(model.tower.layers, mlp.tower.layers, strict=True):
        dense.set_weights(source.get_weights())
    g_kernel, g_bias = gmf.head.get_weights()
    m_kernel, m_bias = mlp.head.get_weights()
    model.head.set_weights([np.concatenate([alpha * g_kernel, (1 - alpha) * m_kernel]),
                            alpha * g_bias + (1 - alpha) * m_bias])
