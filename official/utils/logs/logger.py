"""Benchmark logging: metrics as JSON lines, run parameters and machine facts.

`<benchmark_log_dir>/metric.log` gets one JSON object per line:
`{"name", "value", "unit", "global_step", "timestamp", "extras"}`;
`<benchmark_log_dir>/benchmark_run.log` gets one JSON object with the run's
parameters and the machine it ran on. Without a directory, metrics go to
the log only.
"""

import datetime
import json
import os
import platform
import sys

from absl import logging

from official.utils.misc import atomic_io

METRIC_LOG = "metric.log"
RUN_LOG = "benchmark_run.log"


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="microseconds")


class BenchmarkLogger:
    """Writes metrics (and run info) to the console and, if set, to a directory."""

    def __init__(self, log_dir: str | None = None, write: bool = True):
        """Creates the logger.

        Args:
          log_dir: directory for metric.log / benchmark_run.log, or None.
          write: False on non-chief workers: nothing is written to files.
        """
        self.log_dir = log_dir if write else None
        if self.log_dir:
            os.makedirs(self.log_dir, exist_ok=True)

    def log_metric(self, name: str, value: float, unit: str | None = None,
                   global_step: int | None = None, extras: dict | None = None) -> None:
        """Logs one metric value."""
        record = {"name": name, "value": float(value), "unit": unit,
                  "global_step": global_step, "timestamp": _now(), "extras": extras or {}}
        # DEBUG: the programs print each cycle's metrics once, in one line.
        logging.debug("metric %s = %s%s (step %s)", name, value, f" {unit}" if unit else "",
                      global_step)
        if self.log_dir:
            with open(os.path.join(self.log_dir, METRIC_LOG), "a") as f:
                f.write(json.dumps(record) + "\n")

    def log_run_info(self, model_name: str, dataset_name: str, run_params: dict,
                     test_id: str | None = None) -> None:
        """Writes benchmark_run.log: parameters, versions and machine facts."""
        if not self.log_dir:
            return
        import tensorflow as tf

        info = {
            "model_name": model_name, "dataset": {"name": dataset_name},
            "run_date": _now(), "test_id": test_id,
            "run_parameters": [{"name": k, "value": v} for k, v in sorted(run_params.items())],
            "tensorflow_version": {"version": tf.__version__, "git_hash": tf.version.GIT_VERSION},
            "machine_config": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                               "processor": platform.processor(),
                               "gpus": [d.name for d in tf.config.list_physical_devices("GPU")]},
            "python": sys.version.split()[0],
        }
        atomic_io.write_json(os.path.join(self.log_dir, RUN_LOG), info)


def read_metrics(log_dir: str) -> list[dict]:
    """All records of `<log_dir>/metric.log` (for tests and tooling)."""
    path = os.path.join(log_dir, METRIC_LOG)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def emit_benchmark_result(result: dict, output: str | None) -> None:
    """Prints a benchmark's JSON result and, if `output` is set, writes it there atomically."""
    text = json.dumps(result, indent=2, sort_keys=True)
    print(text)
    if output:
        with atomic_io.atomic_write(output, "w") as out:
            out.write(text + "\n")


def log_cycle(metric_logger: BenchmarkLogger, writer, metrics: dict, step: int,
              extras: dict, units: dict | None = None) -> None:
    """Logs a train/evaluate cycle's metrics to metric.log and TensorBoard (`writer`)."""
    import tensorflow as tf

    units = units or {}
    with writer.as_default(step=step):
        for name, value in metrics.items():
            metric_logger.log_metric(name, value, unit=units.get(name), global_step=step,
                                     extras=extras)
            tf.summary.scalar(name, value)
    writer.flush()
