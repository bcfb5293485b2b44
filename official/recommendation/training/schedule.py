"""Learning-rate schedules for NCF training: linear warm-up, then constant or cosine decay.

Large batches train NCF as fast per epoch as small ones only with a larger
learning rate, and a large rate late in training costs accuracy on real
data (the validation HR peaks, then falls). The MLPerf NCF reference answers
with warm-up and tuned Adam betas; here a linear warm-up over the first
`warmup_steps` and an optional cosine decay to `final_fraction` of the peak
by `total_steps`.
"""

import math

import keras
import tensorflow as tf

from official.recommendation.config.configs import SCHEDULES


@keras.saving.register_keras_serializable(package="official")
class WarmupCosine(keras.optimizers.schedules.LearningRateSchedule):
    """lr(step) = peak * min(1, (step + 1) / warmup) * decay(step).

    decay is 1 for "constant"; for "cosine" it falls from 1 at the end of
    warm-up to `final_fraction` at `total_steps` (and stays there).
    """

    def __init__(self, peak: float, warmup_steps: int, total_steps: int,
                 kind: str = "constant", final_fraction: float = 0.0):
        if kind not in SCHEDULES:
            raise ValueError(f"kind must be one of {SCHEDULES}, got {kind!r}")
        if warmup_steps < 0 or total_steps < 1:
            raise ValueError(f"need warmup_steps >= 0 and total_steps >= 1, got "
                             f"{warmup_steps}, {total_steps}")
        self.peak, self.kind = float(peak), kind
        self.warmup_steps, self.total_steps = int(warmup_steps), int(total_steps)
        self.final_fraction = float(final_fraction)

    def __call__(self, step):
        """Learning rate float32 at (0-based) optimizer step `step`."""
        step = tf.cast(step, tf.float32)
        lr = tf.constant(self.peak, tf.float32)
        if self.warmup_steps:
            lr *= tf.minimum(1.0, (step + 1.0) / self.warmup_steps)
        if self.kind == "cosine":
            span = max(1, self.total_steps - self.warmup_steps)
            t = tf.clip_by_value((step - self.warmup_steps) / span, 0.0, 1.0)
            frac = self.final_fraction + (1 - self.final_fraction) * 0.5 * (
                1 + tf.cos(math.pi * t))
            lr *= frac
        return lr

    def get_config(self):
        """Constructor arguments, for Keras serialization."""
        return {"peak": self.peak, "warmup_steps": self.warmup_steps,
                "total_steps": self.total_steps, "kind": self.kind,
                "final_fraction": self.final_fraction}
