"""Training hooks chosen by name with `--hooks` (what Estimator hooks did).

A hook gets `on_train_begin()`, `on_steps_end(step, examples, logs)` after
each compiled call of several steps, and `on_train_end()`. Names are case
insensitive; `get_train_hooks` rejects unknown ones.
"""

import time
from collections.abc import Sequence

from absl import logging


class Hook:
    """Base hook: does nothing."""

    def on_train_begin(self) -> None:
        """Called before the first training step of the run."""

    def on_steps_end(self, step: int, examples: int, logs: dict) -> None:
        """Called after training steps up to global `step` (covering `examples`)."""

    def on_train_end(self) -> None:
        """Called after the last training step."""


class LoggingHook(Hook):
    """Logs the training loss every `every_n_steps` steps."""

    def __init__(self, every_n_steps: int = 100, **_):
        self.every_n_steps = every_n_steps
        self._last = 0

    def on_steps_end(self, step, examples, logs):  # noqa: D102
        if step - self._last >= self.every_n_steps:
            self._last = step
            logging.info("step %d: %s", step, ", ".join(f"{k} = {v:.4f}"
                                                        for k, v in logs.items()))


class ExamplesPerSecondHook(Hook):
    """Logs training examples per second over windows of `every_n_steps` steps."""

    def __init__(self, every_n_steps: int = 100, metric_logger=None, **_):
        self.every_n_steps, self.metric_logger = every_n_steps, metric_logger
        self.rates: list[float] = []

    def on_train_begin(self):  # noqa: D102
        self._t, self._step, self._examples = time.perf_counter(), 0, 0

    def on_steps_end(self, step, examples, logs):  # noqa: D102
        if step - self._step < self.every_n_steps:
            return
        now = time.perf_counter()
        rate = (examples - self._examples) / max(now - self._t, 1e-9)
        self.rates.append(rate)
        logging.info("examples/sec: %.0f", rate)
        if self.metric_logger is not None:
            self.metric_logger.log_metric("current_examples_per_sec", rate,
                                          unit="examples/s", global_step=step)
        self._t, self._step, self._examples = now, step, examples


class ProfilerHook(Hook):
    """Records a TensorFlow profiler trace of the first `profile_steps` steps to model_dir."""

    def __init__(self, model_dir: str, profile_steps: int = 200, **_):
        self.model_dir, self.profile_steps = model_dir, profile_steps
        self._active = False

    def on_train_begin(self):  # noqa: D102
        import tensorflow as tf

        tf.profiler.experimental.start(self.model_dir)
        self._active = True

    def on_steps_end(self, step, examples, logs):  # noqa: D102
        if self._active and step >= self.profile_steps:
            self.on_train_end()

    def on_train_end(self):  # noqa: D102
        if self._active:
            import tensorflow as tf

            tf.profiler.experimental.stop()
            self._active = False
            logging.info("Profiler trace written under %s", self.model_dir)


HOOKS = {"logginghook": LoggingHook, "examplespersecondhook": ExamplesPerSecondHook,
         "profilerhook": ProfilerHook}


def get_train_hooks(names: Sequence[str], **kwargs) -> list[Hook]:
    """Instantiates hooks by (case-insensitive) name.

    Args:
      names: e.g. ["LoggingHook", "ExamplesPerSecondHook"].
      **kwargs: passed to every hook (e.g. model_dir, metric_logger).

    Raises:
      ValueError: `names` is a string, or a name is unknown.
    """
    if isinstance(names, str):
        raise ValueError("hook names must be a list, not a string")
    hooks = []
    for name in names:
        key = name.strip().lower()
        if not key:
            continue
        if key not in HOOKS:
            raise ValueError(f"unknown hook {name!r}; choose from LoggingHook, "
                             "ExamplesPerSecondHook, ProfilerHook")
        hooks.append(HOOKS[key](**kwargs))
    return hooks
