"""HTTP JSON server for NCF exports (aiohttp), one export or versions with live reload.

    python -m official.recommendation.serve --export_dir /tmp/ncf_export [--port 8501]
    python -m official.recommendation.serve --model_base_path /tmp/ncf_versions
        [--poll_seconds 30] [--keep_versions 1]

Endpoints (`<name>` is --model_name, default `ncf`):

* `GET /healthz` -> `{"status": "ok"}`.
* `GET /metrics` -> the Prometheus text format (`serving.metrics`).
* `GET /v1/models/<name>` -> TF Serving's model status: every version this
  process has seen, newest first (`serving.versions`);
  `GET /v1/models/<name>/versions/<v>` -> one version's.
* `POST /v1/models/<name>:predict` -> TF Serving's REST predict on any
  signature of the current version (`"signature_name"`, default
  `serving_default`), row (`"instances"`) or columnar (`"inputs"`) format
  (`protocol`); `POST /v1/models/<name>/versions/<v>:predict` pins a loaded
  version (404 when it is not loaded).
* `GET /recommend?user_id=U&k=K` -> `{"user_id", "rated", "model_version",
  "recommendations": [{"rank", "item_id", "title", "genres", "score"},
  ...]}` for a trained user (`protocol.recommendation_list`: the shape
  `recommend --output_format json` prints too).
* `POST /recommend` with `{"history": [item ids], "k": K}` -> the same for a
  new user, folded in by the export (`recommend_for_histories`), plus
  `"unknown_item_ids"` and `"fallback"`.

Requests by user id that arrive together are answered by one model call,
and so are requests by history (their new users folded in together): the
first opens a window of --batch_window_ms (default 2 ms); the call runs
when it closes, when --max_batch requests (or --max_history_batch_items
padded history entries) wait, or, under load, as soon as a model thread is
free (`serving.batching`; --batch_window_ms 0: one call per request).
Model calls run on --model_threads threads, never on the event loop.

With --model_base_path the server serves the newest intact version
(`BASE/<n>/`, written by `ncf_main --export_dir BASE --export_versioned`),
looks for a newer one every --poll_seconds and on SIGHUP, loads and warms it
beside the current one, and switches to it at once; requests that started on
the old version finish on it. A version that does not load (damaged, wrong
kind) is refused with one warning line and the current one goes on.

A bad request (malformed JSON, wrong types, k <= 0 or too large, too many
items, unknown ids) gets 400 and `{"error": "<one line>"}`, a body over
--max_body_bytes 413 with the same shape; the server goes on. Integers are
ASCII decimals that fit the input's dtype; JSON bodies nest at most
`protocol.MAX_JSON_DEPTH` (32) levels. A 500 is a bug: its JSON line and the
log's traceback carry the same request id. Connection limits
(--header_timeout_s, --keepalive_timeout_s, --max_connections) are in
`connections`. SIGTERM or SIGINT stops accepting connections, lets in-flight
requests finish (up to 30 s), then exits 0.
"""

import asyncio
import concurrent.futures
import signal
import sys

from absl import flags, logging

from official.recommendation.serving import connections
from official.recommendation.serving.http_app import Server, build_app
from official.utils.errors import UserError
from official.utils.flags import core as flags_core

SHUTDOWN_TIMEOUT_S = 30.0
ANNOUNCEMENT = "Serving"  # the first stdout line: "Serving <name> on <base URL> ..."


def define_serve_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Registers the server's flags."""
    fd = flags_core.bind(fv)
    w = flags_core.help_wrap
    fd.DEFINE_string("export_dir", None, w("One SavedModel written by ncf_main --export_dir "
                                           "(served as version 1; give this or "
                                           "--model_base_path)."))
    fd.DEFINE_string("model_base_path", None, w(
        "A directory of versions BASE/<n> (ncf_main --export_dir BASE --export_versioned): "
        "the newest intact one is served and newer ones are swapped in live."))
    fd.DEFINE_float("poll_seconds", 30.0, w("With --model_base_path: how often to look for a "
                                            "newer version (0: only on SIGHUP)."),
                    lower_bound=0.0)
    fd.DEFINE_integer("keep_versions", 1, w(
        "With --model_base_path: how many of the newest loaded versions stay loaded (requests "
        "may pin any of them: /v1/models/<name>/versions/<v>:predict)."), lower_bound=1)
    fd.DEFINE_string("host", "127.0.0.1", w("Address to listen on."))
    fd.DEFINE_integer("port", 8501, w("Port (0: any free port; the log line says which)."),
                      lower_bound=0, upper_bound=65535)
    fd.DEFINE_string("model_name", "ncf", w("The <name> of /v1/models/<name> URLs."))
    fd.DEFINE_float("batch_window_ms", 2.0, w("How long the first request of a batch waits "
                                              "for others to share its model call (0: no "
                                              "batching)."), lower_bound=0.0)
    fd.DEFINE_integer("max_batch", 64, w("Most requests in one batched call."), lower_bound=1)
    fd.DEFINE_integer("max_history_batch_items", 4096, w(
        "Most padded history entries (requests x longest history) in one fold-in call; a "
        "longer history runs alone."), lower_bound=1)
    fd.DEFINE_integer("model_threads", 1, w("Threads running model calls."), lower_bound=1)
    fd.DEFINE_integer("max_body_bytes", 1 << 20, w("Largest request body accepted."),
                      lower_bound=1024)
    fd.DEFINE_integer("max_connections", 512, w(
        "Most open connections; a new one beyond them gets 503 at once. Lowered to fit the "
        "file-descriptor limit (`ulimit -n`)."), lower_bound=1)
    fd.DEFINE_float("header_timeout_s", 10.0, w(
        "Seconds a new connection has to send its request line and headers (then 408 and "
        "closed)."), lower_bound=0.01)
    fd.DEFINE_float("keepalive_timeout_s", 15.0, w(
        "Seconds an idle kept-alive connection stays open."), lower_bound=0.01)
    fd.register_multi_flags_validator(
        ["export_dir", "model_base_path"],
        lambda v: (v["export_dir"] is None) != (v["model_base_path"] is None),
        message="give exactly one of --export_dir and --model_base_path")


def announced_url(line: str) -> str | None:
    """The base URL of the server's first stdout line (None: not that line)."""
    words = line.split()
    if len(words) < 4 or words[0] != ANNOUNCEMENT or words[2] != "on":
        return None
    return words[3]


async def serve(server: Server, host: str, port: int, max_body_bytes: int,
                limits: connections.Limits, poll_seconds: float = 0.0) -> None:
    """Serves until SIGTERM / SIGINT, then finishes in-flight requests and returns.

    With a version base path, polls for new versions every `poll_seconds`
    (0: never) and on SIGHUP.
    """
    from aiohttp import web

    loop = asyncio.get_running_loop()
    connections.quiet_resource_errors(loop)
    runner = connections.GuardedRunner(build_app(server, max_body_bytes), limits,
                                             shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    site = web.TCPSite(runner, host, port, shutdown_timeout=SHUTDOWN_TIMEOUT_S,
                       backlog=connections.BACKLOG)
    await site.start()
    bound = runner.addresses[0][1]
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    polls = []
    if server.versions.base is not None:
        loop.add_signal_handler(signal.SIGHUP,
                                lambda: polls.append(loop.create_task(server.versions.poll())))
        if poll_seconds > 0:
            polls.append(loop.create_task(_poll_every(server.versions, poll_seconds)))
    print(f"{ANNOUNCEMENT} {server.model_name} on http://{host}:{bound} (version "
          f"{server.versions.current.version}; Ctrl-C stops)", flush=True)
    await stop.wait()
    logging.info("Stopping: finishing in-flight requests")
    for task in polls:
        task.cancel()
    await runner.cleanup()
    server.versions.close()
    server.versions.current.executor.shutdown(wait=True)
    print("Stopped.", flush=True)


async def _poll_every(versions, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        await versions.poll()


def build_server(f) -> Server:
    """The `Server` of the parsed flags `f`, its first version loaded and warmed.

    Raises:
      UserError: nothing servable at --export_dir / --model_base_path.
    """
    from official.recommendation import recommend
    from official.recommendation.serving.metrics import ServerMetrics
    from official.recommendation.serving.servable import BatchSettings, Servable
    from official.recommendation.serving.versions import VersionManager

    executor = concurrent.futures.ThreadPoolExecutor(f.model_threads, "model")
    metrics = ServerMetrics()
    batching = BatchSettings(f.batch_window_ms / 1000.0, f.max_batch,
                             f.max_history_batch_items, f.model_threads)

    def load(version: int, path: str) -> Servable:
        servable = Servable(recommend.load_export(path), version, path, batching, executor,
                            metrics.observe_batch)
        servable.warm()
        return servable

    def reloaded(succeeded: bool, version: int) -> None:
        metrics.observe_reload(succeeded, version, versions.current.version)

    versions = VersionManager(load, f.model_base_path, f.export_dir, f.keep_versions)
    versions.start()
    versions.on_reload = reloaded  # loads after the first count as reloads
    return Server(versions, f.model_name, metrics)


def main(_) -> None:
    """Entry point."""
    f = flags.FLAGS
    server = build_server(f)
    try:
        limits = connections.Limits(
            connections.fitted_max_connections(f.max_connections), f.header_timeout_s,
            f.keepalive_timeout_s)
    except ValueError as e:
        raise UserError(str(e)) from e
    try:
        asyncio.run(serve(server, f.host, f.port, f.max_body_bytes, limits, f.poll_seconds))
    except OSError as e:
        raise UserError(f"cannot listen on {f.host}:{f.port}: {e.strerror or e}") from e
    sys.stdout.flush()


def cli_main() -> None:
    """Console entry point (`official-serve`)."""
    from official.utils.misc import cli

    define_serve_flags()
    cli.run(main)


if __name__ == "__main__":
    cli_main()
