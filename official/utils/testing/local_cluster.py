"""Real multi-process TensorFlow clusters on 127.0.0.1 for distribution tests.

Each worker is a separate `python -m MODULE` process with its own `TF_CONFIG`
naming free local ports; nothing listens on other addresses.
"""

import dataclasses
import json
import os
import socket
import subprocess
import sys
import time


def free_ports(n: int) -> list[int]:
    """`n` distinct TCP ports that were free on 127.0.0.1 a moment ago."""
    sockets = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            sockets.append(s)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def tf_configs(num_workers: int) -> list[str]:
    """One `TF_CONFIG` value per worker of a local cluster (worker 0 is the chief)."""
    hosts = [f"127.0.0.1:{p}" for p in free_ports(num_workers)]
    return [json.dumps({"cluster": {"worker": hosts}, "task": {"type": "worker", "index": i}})
            for i in range(num_workers)]


@dataclasses.dataclass
class Worker:
    """A running worker process and the file its output goes to."""

    process: subprocess.Popen
    log_path: str

    def log(self) -> str:
        """Everything the worker printed so far (stdout and stderr)."""
        with open(self.log_path, encoding="utf-8", errors="replace") as f:
            return f.read()


def start(module: str, args: list[str], log_dir: str, num_workers: int = 2,
          tag: str = "run", only: list[int] | None = None) -> list[Worker]:
    """Starts `python -m module *args` as the workers of one cluster.

    Args:
      module, args: the program.
      log_dir: where each worker's output goes (`<tag>-worker<i>.log`).
      num_workers: size of the cluster in TF_CONFIG.
      tag: log name prefix.
      only: start just these worker indices (the others never come up).
    """
    os.makedirs(log_dir, exist_ok=True)
    workers = []
    for i, config in enumerate(tf_configs(num_workers)):
        if only is not None and i not in only:
            continue
        env = dict(os.environ, TF_CONFIG=config, TF_CPP_MIN_LOG_LEVEL="2",
                   CUDA_VISIBLE_DEVICES="")
        path = os.path.join(log_dir, f"{tag}-worker{i}.log")
        out = open(path, "wb")  # noqa: SIM115 (closed when the process is reaped)
        workers.append(Worker(subprocess.Popen([sys.executable, "-m", module, *args], env=env,
                                               stdout=out, stderr=subprocess.STDOUT), path))
        out.close()
    return workers


def wait_all(workers: list[Worker], timeout_s: float) -> list[int]:
    """Return codes of all workers; kills them all and raises if one runs past the timeout."""
    deadline = time.monotonic() + timeout_s
    codes = []
    try:
        for w in workers:
            codes.append(w.process.wait(timeout=max(0.1, deadline - time.monotonic())))
    except subprocess.TimeoutExpired as e:
        for w in workers:
            w.process.kill()
            w.process.wait()
        raise AssertionError(f"cluster still running after {timeout_s} s:\n"
                             + "\n".join(w.log()[-2000:] for w in workers)) from e
    return codes


def wait_for_text(worker: Worker, text: str, timeout_s: float) -> None:
    """Blocks until `text` appears in the worker's output (raises on timeout or exit)."""
    deadline = time.monotonic() + timeout_s
    while text not in worker.log():
        if worker.process.poll() is not None:
            raise AssertionError(f"worker exited before printing {text!r}:\n"
                                 f"{worker.log()[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {text!r} after {timeout_s} s:\n{worker.log()[-3000:]}")
        time.sleep(0.2)
