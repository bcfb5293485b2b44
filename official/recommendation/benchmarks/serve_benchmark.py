"""Requests/s and latency of the HTTP server: by id, by history, batched or not, and a reload.

    python -m official.recommendation.benchmarks.serve_benchmark --output FILE.json

Trains NeuMF for one epoch on synthetic MovieLens (ml-1m size by default),
exports it as version 1 of a base path, starts
`official.recommendation.serve --model_base_path` on 127.0.0.1 and drives it
with C concurrent clients (aiohttp, in this process) for --duration_s
seconds each, for C in --concurrency:

* `by_id`: `GET /recommend?user_id=..&k=10` (random trained users);
* `by_history`: `POST /recommend` with a random --history_items-movie
  history (new users, folded in), k = 10;
* `by_id_unbatched` (at the largest C) and `by_history_unbatched` (every C):
  the same on a server started with `--batch_window_ms 0`;
* `reload`: by_id and by_history at the largest C (half each) on the
  batched server while version 2 (a copy of the export) is dropped into the
  base path and SIGHUP sent after a third of the run (3 x --duration_s): requests/s, errors,
  p99 over the whole run and over the swap (from the drop until the first
  answer from version 2, plus 0.5 s), and `swap_s` (drop to first answer).

Each entry has `requests_per_s`, `p50_ms`, `p99_ms`, `requests` and
`errors` (answers other than 200: must be 0); `batching_speedup` is by_id's
requests/s over by_id_unbatched's at the largest C, and
`history_batching_speedup` the same for by_history. Clients and server
share the machine's cores. Printed as JSON and written to --output.
"""

import asyncio
import os
import shutil
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
    fd.DEFINE_list("runs", ["unbatched", "batched", "reload"], w(
        "Which runs: unbatched (by_id_unbatched, by_history_unbatched), batched (by_id, "
        "by_history), reload."))
    fd.DEFINE_integer("history_items", 20, w("Movies in each by-history request."),
                      lower_bound=1)
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


def start_server(base_path: str, *args: str) -> tuple[subprocess.Popen, str]:
    """The server process of a version base path and its base URL (it picks a free port)."""
    proc = subprocess.Popen([sys.executable, "-m", "official.recommendation.serve",
                             f"--model_base_path={base_path}", "--port=0",
                             "--poll_seconds=0", *args],
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


async def drive(base: str, kinds: tuple[str, ...], clients: int, duration_s: float,
                user_ids, item_ids, history_items: int, during=None) -> dict:
    """`clients` concurrent loops of requests for `duration_s` seconds.

    Client c sends `kinds[c % len(kinds)]` requests ("by_id" or "by_history").
    `during(elapsed_s)`, if given, runs in a thread after a third of the run.
    Returns the summary and, under "records", (start, latency, version) per request.
    """
    import aiohttp

    records, errors = [], 0
    began = time.perf_counter()
    deadline = began + duration_s

    async def client(seed: int, session) -> None:
        nonlocal errors
        rng = np.random.default_rng(seed)
        kind = kinds[seed % len(kinds)]
        while time.perf_counter() < deadline:
            start = time.perf_counter()
            if kind == "by_id":
                request = session.get(f"{base}/recommend",
                                      params={"user_id": str(rng.choice(user_ids)), "k": "10"})
            else:
                history = [int(i) for i in rng.choice(item_ids, history_items, replace=False)]
                request = session.post(f"{base}/recommend", json={"history": history, "k": 10})
            async with request as response:
                body = await response.json()
                errors += response.status != 200
            records.append((start - began, time.perf_counter() - start,
                            body.get("model_version", 0)))

    async def side_job() -> None:
        await asyncio.sleep(duration_s / 3)
        await asyncio.to_thread(during)

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        jobs = [client(s, session) for s in range(clients)]
        if during is not None:
            jobs.append(side_job())
        await asyncio.gather(*jobs)
        elapsed = time.perf_counter() - began
    return {**summary([r[1] for r in records], elapsed), "errors": errors, "records": records}


def summary(latencies_s, elapsed_s: float) -> dict:
    """requests, requests_per_s, p50_ms and p99_ms of request latencies (seconds)."""
    ms = np.array(latencies_s) * 1000
    return {"requests": len(ms), "requests_per_s": len(ms) / elapsed_s,
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99))}


def reload_under_load(base_path: str, export: str, proc, url: str, clients: int, fv, users,
                      items) -> dict:
    """A version swap while `clients` clients ask (half by id, half by history)."""
    dropped = {}

    def drop_version_2() -> None:
        staging = os.path.join(base_path, ".staging")
        shutil.copytree(export, staging)
        dropped["at"] = time.perf_counter()
        os.rename(staging, os.path.join(base_path, "2"))
        proc.send_signal(signal.SIGHUP)

    began = time.perf_counter()
    run = asyncio.run(drive(url, ("by_id", "by_history"), clients, fv.duration_s * 3, users,
                            items, fv.history_items, during=drop_version_2))
    records = run.pop("records")
    start = dropped["at"] - began
    swapped = min((t + lat for t, lat, v in records if v == 2), default=None)
    result = {**run, "swap_s": None if swapped is None else swapped - start}
    if swapped is not None:
        window = [lat for t, lat, _ in records if start <= t <= swapped + 0.5]
        result["during_swap"] = summary(window, swapped + 0.5 - start)
    return result


def main(_) -> None:
    """Entry point."""
    from official.recommendation import recommend

    fv = flags.FLAGS
    levels = [int(c) for c in fv.concurrency]
    top = max(levels)
    results: dict = {"history_items": fv.history_items}
    with tempfile.TemporaryDirectory() as tmp:
        work = fv.work_dir or tmp
        export = train_export(work, fv)
        loaded = recommend.load_export(export)  # kept: its functions use its variables
        maps = loaded.id_maps()
        users, items = maps["user_ids"].numpy(), maps["item_ids"].numpy()
        del loaded
        base_path = os.path.join(work, "versions")
        os.makedirs(base_path, exist_ok=True)
        shutil.copytree(export, os.path.join(base_path, "1"))

        def run(url, name, kind, level):
            out = asyncio.run(drive(url, (kind,), level, fv.duration_s, users, items,
                                    fv.history_items))
            out.pop("records")
            results.setdefault(name, {})[str(level)] = out
            logging.info("%s C=%d: %s", name, level, out)

        if "unbatched" in fv.runs:
            proc, url = start_server(base_path, "--batch_window_ms=0")
            try:
                run(url, "by_id_unbatched", "by_id", top)
                for c in levels:
                    run(url, "by_history_unbatched", "by_history", c)
            finally:
                stop_server(proc)
        proc, url = start_server(base_path)
        try:
            for kind in ("by_id", "by_history") if "batched" in fv.runs else ():
                for c in levels:
                    run(url, kind, kind, c)
            if "reload" in fv.runs:
                results["reload"] = reload_under_load(base_path, export, proc, url, top, fv,
                                                      users, items)
                logging.info("reload: %s", results["reload"])
        finally:
            stop_server(proc)
    for kind, speedup in (("by_id", "batching_speedup"),
                          ("by_history", "history_batching_speedup")):
        if kind in results and f"{kind}_unbatched" in results:
            results[speedup] = (results[kind][str(top)]["requests_per_s"]
                                / results[f"{kind}_unbatched"][str(top)]["requests_per_s"])
    logger.emit_benchmark_result(results, fv.output)


if __name__ == "__main__":
    define_flags()
    app.run(main)
