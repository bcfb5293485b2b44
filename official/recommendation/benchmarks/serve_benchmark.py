"""Requests/s and latency of the HTTP server, batched and not.

    python -m official.recommendation.benchmarks.serve_benchmark --output FILE.json

Trains NeuMF for one epoch on synthetic MovieLens (ml-1m size by default),
exports it, starts `official.recommendation.serve` on 127.0.0.1 and drives
it with C concurrent clients (aiohttp, in this process) for --duration_s
seconds each, for C in --concurrency:

* `by_id`: `GET /recommend?user_id=..&k=10` (random trained users);
* `by_history`: `POST /recommend` with a random 3-movie history, k = 10;
* `by_id_unbatched`: by_id again on a server started with
  `--batch_window_ms 0`, at the largest C.

Each entry has `requests_per_s`, `p50_ms`, `p99_ms`, `requests` and
`errors` (answers other than 200: must be 0); `batching_speedup` is by_id's
requests/s over by_id_unbatched's at the largest C. Clients and server share
the machine's cores. Printed as JSON and written to --output.
"""

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time

import numpy as np
from absl import app, flags, logging

from official.recommendation.serve import announced_url
from official.utils.flags import core as flags_core
from official.utils.logs import logger


def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Registers the benchmark's flags."""
    fd = flags_core.bind(fv)
    w = flags_core.help_wrap
    fd.DEFINE_string("output", None, w("Write the JSON results here (also printed)."))
    fd.DEFINE_list("concurrency", ["1", "8", "64"], w("Concurrent clients of each run."))
    fd.DEFINE_float("duration_s", 5.0, w("Seconds of each run."), lower_bound=0.5)
    fd.DEFINE_integer("synthetic_users", 6040, w("Synthetic users of the export."))
    fd.DEFINE_integer("synthetic_items", 3706, w("Synthetic items."))
    fd.DEFINE_integer("synthetic_ratings", 1_000_000, w("Synthetic ratings."))
    fd.DEFINE_string("work_dir", None, w("Where the data and export go (default: a "
                                         "temporary directory)."))


def train_export(work: str, fv) -> str:
    """Trains one NeuMF epoch on synthetic data and exports it; returns the export dir."""
    from official.recommendation import ncf_flags, ncf_main

    settings = flags.FlagValues()
    ncf_flags.define_ncf_flags(settings)
    export = os.path.join(work, "export")
    settings(["serve_benchmark", "--dataset=synthetic", f"--data_dir={work}/data",
              f"--synthetic_users={fv.synthetic_users}",
              f"--synthetic_items={fv.synthetic_items}",
              f"--synthetic_ratings={fv.synthetic_ratings}", f"--model_dir={work}/model",
              "--clean", "--train_epochs=1", "--hooks=", f"--export_dir={export}"])
    ncf_main.run_from_flags(settings)
    return export


def start_server(export: str, *args: str) -> tuple[subprocess.Popen, str]:
    """The server process and its base URL (it picks a free port)."""
    proc = subprocess.Popen([sys.executable, "-m", "official.recommendation.serve",
                             f"--export_dir={export}", "--port=0", *args],
                            stdout=subprocess.PIPE, text=True,
                            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
    url = announced_url(proc.stdout.readline())
    if url is None:
        proc.kill()
        raise RuntimeError("the server did not start")
    return proc, url


def stop_server(proc: subprocess.Popen) -> None:
    """SIGTERM, then wait for the drain."""
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)


async def drive(base: str, kind: str, clients: int, duration_s: float, user_ids, item_ids
                ) -> dict:
    """`clients` concurrent loops of `kind` requests for `duration_s` seconds."""
    import aiohttp

    latencies, errors = [], 0
    deadline = time.perf_counter() + duration_s

    async def client(seed: int, session) -> None:
        nonlocal errors
        rng = np.random.default_rng(seed)
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            if kind == "by_id":
                request = session.get(f"{base}/recommend",
                                      params={"user_id": str(rng.choice(user_ids)), "k": "10"})
            else:
                history = [int(i) for i in rng.choice(item_ids, 3, replace=False)]
                request = session.post(f"{base}/recommend", json={"history": history, "k": 10})
            async with request as response:
                await response.read()
                errors += response.status != 200
            latencies.append(time.perf_counter() - start)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.perf_counter()
        await asyncio.gather(*(client(s, session) for s in range(clients)))
        elapsed = time.perf_counter() - began
    ms = np.array(latencies) * 1000
    return {"requests": len(ms), "errors": errors, "requests_per_s": len(ms) / elapsed,
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def main(_) -> None:
    """Entry point."""
    from official.recommendation import recommend

    fv = flags.FLAGS
    levels = [int(c) for c in fv.concurrency]
    results: dict = {"by_id": {}, "by_history": {}, "by_id_unbatched": {}}
    with tempfile.TemporaryDirectory() as tmp:
        export = train_export(fv.work_dir or tmp, fv)
        loaded = recommend.load_export(export)  # kept: its functions use its variables
        maps = loaded.id_maps()
        users, items = maps["user_ids"].numpy(), maps["item_ids"].numpy()
        del loaded
        proc, base = start_server(export)
        try:
            for kind in ("by_id", "by_history"):
                for c in levels:
                    results[kind][str(c)] = asyncio.run(
                        drive(base, kind, c, fv.duration_s, users, items))
                    logging.info("%s C=%d: %s", kind, c, results[kind][str(c)])
        finally:
            stop_server(proc)
        proc, base = start_server(export, "--batch_window_ms=0")
        try:
            top = str(max(levels))
            results["by_id_unbatched"][top] = asyncio.run(
                drive(base, "by_id", max(levels), fv.duration_s, users, items))
        finally:
            stop_server(proc)
    results["batching_speedup"] = (results["by_id"][top]["requests_per_s"]
                                   / results["by_id_unbatched"][top]["requests_per_s"])
    logger.emit_benchmark_result(results, fv.output)


if __name__ == "__main__":
    define_flags()
    app.run(main)
