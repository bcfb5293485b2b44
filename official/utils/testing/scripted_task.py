"""A scripted `run_loop.Task` for the loop's tests: known curves, known answers."""

import os

import tensorflow as tf

from official.utils import run_loop

STEPS = 200  # steps per epoch: ExamplesPerSecondHook logs every 100 steps


class Scripted:
    """A Task whose 'weights' count trained epochs and whose metrics follow a script.

    evaluate() gives curve[w - 1] as HR; evaluate_test() gives 10 * w, so the
    test result tells which epoch's weights were restored.
    """

    name, dataset_name = "scripted", "none"
    steps_per_epoch, examples_per_step, metric_extras = STEPS, 3, {"top_k": 1}
    model_kind, divergence_hint = "scripted", "a scripted divergence"

    def __init__(self, curve, trains=True):
        self.curve, self.trains = list(curve), trains
        self.model = tf.Module()
        self.model.w = tf.Variable(0.0)
        self.trained = []

    def checkpointables(self):
        """The model."""
        return {"model": self.model}

    def train_epoch(self, epoch, progress, prefetch_until):
        """Adds one to the weight; loss 1 / (epoch + 1)."""
        assert epoch == int(self.model.w.numpy())  # resumed where the checkpoint left off
        self.model.w.assign_add(1.0)
        self.trained.append(epoch)
        progress(STEPS)
        return 1.0 / (epoch + 1), STEPS * 3

    def evaluate(self):
        """HR from the curve at the weight's epoch."""
        w = int(self.model.w.numpy())
        return {"HR": self.curve[w - 1] if w else 0.0}

    def evaluate_test(self):
        """10 x the weight: tells which epoch's weights were restored."""
        return {"HR": 10.0 * float(self.model.w.numpy())}

    def refit(self, epochs):
        """A fresh Scripted task on the same curve."""
        return Scripted(self.curve)

    def export(self, export_dir):
        """Writes the weight to export_dir/w."""
        os.makedirs(export_dir, exist_ok=True)
        with open(os.path.join(export_dir, "w"), "w") as f:
            f.write(str(int(self.model.w.numpy())))

    def run_facts(self):
        """A fixed fact."""
        return {"what": "scripted"}

    def chosen_settings(self):
        """Nothing chosen."""
        return {}

    def metric_label(self, name):
        """name@1."""
        return f"{name}@1"


CURVE = [0.1, 0.5, 0.3, 0.2, 0.1, 0.05]


def run(tmp_path, task=None, **config):
    """`train_and_report` of `task` (default: CURVE) in tmp_path/m with `config`."""
    config = dict(model_dir=str(tmp_path / "m"), train_epochs=4, validation=True,
                  selection_metrics=("HR",)) | config
    return run_loop.train_and_report(task or Scripted(CURVE), run_loop.RunConfig(**config))
