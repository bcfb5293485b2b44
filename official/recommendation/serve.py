"""HTTP JSON server for an NCF export (aiohttp).

    python -m official.recommendation.serve --export_dir /tmp/ncf_export [--port 8501]

Endpoints (`<name>` is --model_name, default `ncf`):

* `GET /healthz` -> `{"status": "ok"}`.
* `GET /v1/models/<name>` -> TF Serving's model status (version 1, AVAILABLE).
* `POST /v1/models/<name>:predict` -> TF Serving's REST predict on any
  signature of the export (`"signature_name"`, default `serving_default`),
  row (`"instances"`) or columnar (`"inputs"`) format (`protocol`).
* `GET /recommend?user_id=U&k=K` -> `{"user_id", "rated", "recommendations":
  [{"rank", "item_id", "title", "genres", "score"}, ...]}` for a trained user
  (`protocol.recommendation_list`: the shape `recommend --output_format json`
  prints too).
* `POST /recommend` with `{"history": [item ids], "k": K}` -> the same for a
  new user, folded in by the export (`recommend_for_history`), plus
  `"unknown_item_ids"` and `"fallback"`.

Requests by user id that arrive together are answered by one model call:
the first opens a window of --batch_window_ms (default 2 ms) and the call
runs when it closes or when --max_batch requests wait, whichever is first
(--batch_window_ms 0: one call per request). Model calls run on a thread
(--model_threads), never on the event loop. A bad request (malformed JSON,
wrong types, k <= 0 or too large, too many items, unknown ids) gets 400
and `{"error": "<one line>"}`, a body over --max_body_bytes 413 with the
same shape; the server goes on. Integers are ASCII decimals that fit the
input's dtype; JSON bodies nest at most `protocol.MAX_JSON_DEPTH`
(32) levels. A 500 is a bug: its JSON line and the log's traceback carry
the same request id. Connection limits (--header_timeout_s,
--keepalive_timeout_s, --max_connections) are in `connections`.
SIGTERM or SIGINT stops accepting
connections, lets in-flight requests finish (up to 30 s), then exits 0.
"""

import asyncio
import concurrent.futures
import json
import re
import signal
import sys
import uuid

import numpy as np
from absl import flags, logging

from official.recommendation.serving import connections
from official.recommendation.serving import protocol as protocol
from official.utils.errors import UserError, first_line
from official.utils.flags import core as flags_core
from official.utils.misc import array_ops

SHUTDOWN_TIMEOUT_S = 30.0
ANNOUNCEMENT = "Serving"  # the first stdout line: "Serving <name> on <base URL> ..."


def define_serve_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Registers the server's flags."""
    fd = flags_core.bind(fv)
    w = flags_core.help_wrap
    fd.DEFINE_string("export_dir", None, w("SavedModel written by ncf_main --export_dir."))
    fd.DEFINE_string("host", "127.0.0.1", w("Address to listen on."))
    fd.DEFINE_integer("port", 8501, w("Port (0: any free port; the log line says which)."),
                      lower_bound=0, upper_bound=65535)
    fd.DEFINE_string("model_name", "ncf", w("The <name> of /v1/models/<name> URLs."))
    fd.DEFINE_float("batch_window_ms", 2.0, w("How long the first by-id request waits for "
                                              "others to share its model call (0: no "
                                              "batching)."), lower_bound=0.0)
    fd.DEFINE_integer("max_batch", 64, w("Most requests in one batched call."), lower_bound=1)
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
    fd.mark_flag_as_required("export_dir")


class Batcher:
    """Coalesces concurrent by-id recommendation requests into one model call."""

    def __init__(self, call, window_s: float, max_batch: int, executor):
        """`call(users int64 [n], k) -> dict of arrays [n, ...]`, run on `executor`."""
        self.call, self.window_s, self.max_batch = call, window_s, max_batch
        self.executor = executor
        self.pending: list[tuple[int, int, asyncio.Future]] = []
        self.timer = None

    async def submit(self, user: int, k: int) -> dict:
        """One user's row of the (possibly shared) call's outputs, cut to k items."""
        loop = asyncio.get_running_loop()
        if self.window_s <= 0:
            out = await loop.run_in_executor(self.executor, self.call, np.array([user]), k)
            return {n: v[0] for n, v in out.items()}
        future = loop.create_future()
        self.pending.append((user, k, future))
        if len(self.pending) >= self.max_batch:
            self._flush()
        elif self.timer is None:
            self.timer = loop.call_later(self.window_s, self._flush)
        return await future

    def _flush(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None
        batch, self.pending = self.pending[:self.max_batch], self.pending[self.max_batch:]
        if self.pending:
            self.timer = asyncio.get_running_loop().call_later(self.window_s, self._flush)
        if batch:
            asyncio.get_running_loop().create_task(self._run(batch))

    async def _run(self, batch) -> None:
        users = np.array([u for u, _, _ in batch])  # int64, or str for text ids
        k = max(k for _, k, _ in batch)
        try:
            out = await asyncio.get_running_loop().run_in_executor(self.executor, self.call,
                                                                   users, k)
        except Exception as e:  # noqa: BLE001 - handed to every waiting request
            for _, _, future in batch:
                future.set_exception(e)
            return
        for row, (_, k_row, future) in enumerate(batch):
            future.set_result({n: (v[row][:k_row] if np.ndim(v) > 1 else v[row])
                               for n, v in out.items()})


class Server:
    """The export, its id maps and the request handlers."""

    def __init__(self, export, model_name: str, batch_window_s: float, max_batch: int,
                 model_threads: int):
        self.export, self.model_name = export, model_name
        maps = export.id_maps()
        self.user_ids = np.sort(maps["user_ids"].numpy())
        self.text_users = self.user_ids.dtype.kind in "SO"
        if self.text_users:
            self.user_ids = np.sort(self.user_ids.astype(bytes))
        self.item_dtype = maps["item_ids"].dtype.name  # "int64", or "string" for text ids
        self.num_items = int(maps["item_ids"].shape[0])
        self.executor = concurrent.futures.ThreadPoolExecutor(model_threads)
        self.batcher = Batcher(self._recommend_users, batch_window_s, max_batch, self.executor)
        self.specs = {name: {k: (spec.dtype.name, tuple(spec.shape.as_list()))
                             for k, spec in fn.structured_input_signature[1].items()}
                      for name, fn in export.signatures.items()}

    def _recommend_users(self, users: np.ndarray, k: int) -> dict:
        import tensorflow as tf

        out = self.export.recommend(user_id=tf.constant(users), k=tf.constant(k, tf.int32))
        return {n: v.numpy() for n, v in out.items()}

    def _recommend_history(self, items: np.ndarray, k: int) -> dict:
        import tensorflow as tf

        out = self.export.recommend_for_history(item_id=tf.constant(items),
                                                k=tf.constant(k, tf.int32))
        return {n: v.numpy() for n, v in out.items()}

    def _predict(self, name: str, arrays: dict) -> dict:
        import tensorflow as tf

        try:
            out = self.export.signatures[name](**{k: tf.constant(v) for k, v in arrays.items()})
        except tf.errors.InvalidArgumentError as e:
            raise protocol.RequestError(tf_error_line(e.message)) from None
        return {n: v.numpy() for n, v in out.items()}

    @staticmethod
    def recommendations(out: dict) -> list[dict]:
        """The JSON list of one user's items (fillers with score -inf dropped)."""
        keep = np.isfinite(out["score"])
        return protocol.recommendation_list(out["item_id"][keep], out["title"][keep],
                                            out["genres"][keep], out["score"][keep])

    async def recommend_by_id(self, request):
        """GET /recommend?user_id=U&k=K."""
        query = request.query
        text = query.get("user_id", "")
        if self.text_users:  # the log's ids are text: taken as given
            if not text:
                raise protocol.RequestError("user_id is missing")
            user, key = text, text.encode("utf-8")
        else:
            user = key = array_ops.parse_int64(text)
            if user is None:
                raise protocol.RequestError("user_id must be an integer (ASCII decimal digits "
                                            f"that fit in 64 bits), got {text!r}")
        k = protocol.positive_k(query.get("k", "10"), self.num_items)
        pos = np.searchsorted(self.user_ids, key)
        if pos >= len(self.user_ids) or self.user_ids[pos] != key:
            raise protocol.RequestError(f"unknown user_id {user} (not in the training data; "
                                        'POST /recommend with a "history" for a new user)')
        out = await self.batcher.submit(user, k)
        return {"user_id": user, "rated": int(out["rated"]),
                "recommendations": self.recommendations(out)}

    async def recommend_by_history(self, request):
        """POST /recommend {"history": [...], "k": K}."""
        items, k = protocol.history_of(await _json(request), self.item_dtype)
        k = protocol.positive_k(k, self.num_items)
        out = await asyncio.get_running_loop().run_in_executor(
            self.executor, self._recommend_history, items, k)
        return {"history": items.tolist(),
                "unknown_item_ids": [protocol.id_value(v)
                                     for v in np.sort(out["unknown_item_id"])],
                "fallback": bool(out["fallback"]), "rated": int(out["rated"]),
                "recommendations": self.recommendations(out)}

    async def predict(self, request):
        """POST /v1/models/<name>:predict (TF Serving's REST API)."""
        body = await _json(request)
        name = body.get("signature_name", "serving_default") if isinstance(body, dict) else ""
        if name not in self.specs:
            raise protocol.RequestError(f"no signature {name!r}; the export has "
                                        f"{', '.join(sorted(self.specs))}")
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k != "signature_name"}
        arrays, rows = protocol.predict_inputs(body, self.specs[name])
        out = await asyncio.get_running_loop().run_in_executor(self.executor, self._predict,
                                                               name, arrays)
        return protocol.predict_response(out, rows)

    def model_status(self) -> dict:
        """TF Serving's GET /v1/models/<name> answer."""
        return {"model_version_status": [{"version": "1", "state": "AVAILABLE",
                                          "status": {"error_code": "OK", "error_message": ""}}]}


def announced_url(line: str) -> str | None:
    """The base URL of the server's first stdout line (None: not that line)."""
    words = line.split()
    if len(words) < 4 or words[0] != ANNOUNCEMENT or words[2] != "on":
        return None
    return words[3]


def tf_error_line(message: str) -> str:
    """The line of a TensorFlow error a client can act on (an assertion's message)."""
    found = re.search(r"assertion failed: \[([^\]]+)\]", message)
    if found:
        return found.group(1)
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[-1] if lines else "invalid input"


async def _json(request):
    text = await request.text()
    protocol.check_json_depth(text)
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise protocol.RequestError(f"malformed JSON: {str(e).splitlines()[0]}") from None


def build_app(server: Server, max_body_bytes: int):
    """The aiohttp application serving `server`."""
    from aiohttp import web

    def json_route(handler):
        async def wrapped(request):
            try:
                return web.json_response(await handler(request))
            except protocol.RequestError as e:
                return web.json_response({"error": str(e)}, status=400)
            except web.HTTPRequestEntityTooLarge:
                return web.json_response(
                    {"error": f"request body over {max_body_bytes} bytes"}, status=413)
            except Exception as e:  # noqa: BLE001 - a bug: one JSON line, the server goes on
                request_id = uuid.uuid4().hex[:12]
                logging.exception("internal error, request id %s, on %s %s", request_id,
                                  request.method, request.path)
                return web.json_response({"error": f"internal error ({first_line(e)}); request "
                                                   f"id {request_id}"}, status=500)
        return wrapped

    async def status(request):
        if request.match_info["name"] != server.model_name:
            raise protocol.RequestError(f"no model {request.match_info['name']!r}; this "
                                        f"server has {server.model_name!r}")
        return server.model_status()

    async def predict(request):
        if request.match_info["name"] != server.model_name:
            raise protocol.RequestError(f"no model {request.match_info['name']!r}; this "
                                        f"server has {server.model_name!r}")
        return await server.predict(request)

    async def health(_):
        return {"status": "ok"}

    @web.middleware
    async def json_http_errors(request, handler):
        """The server's own HTTP errors (no such route, wrong method) as JSON lines too."""
        try:
            return await handler(request)
        except web.HTTPException as e:
            if e.status < 400:
                raise
            return web.json_response({"error": f"{e.reason}: {request.method} {request.path}"},
                                     status=e.status)

    app = web.Application(client_max_size=max_body_bytes, middlewares=[json_http_errors])
    app.router.add_get("/healthz", json_route(health))
    app.router.add_get("/v1/models/{name}", json_route(status))
    app.router.add_post("/v1/models/{name}:predict", json_route(predict))
    app.router.add_get("/recommend", json_route(server.recommend_by_id))
    app.router.add_post("/recommend", json_route(server.recommend_by_history))
    return app


async def serve(server: Server, host: str, port: int, max_body_bytes: int,
                limits: connections.Limits) -> None:
    """Serves until SIGTERM / SIGINT, then finishes in-flight requests and returns."""
    from aiohttp import web

    connections.quiet_resource_errors(asyncio.get_running_loop())
    runner = connections.GuardedRunner(build_app(server, max_body_bytes), limits,
                                             shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    await runner.setup()
    site = web.TCPSite(runner, host, port, shutdown_timeout=SHUTDOWN_TIMEOUT_S,
                       backlog=connections.BACKLOG)
    await site.start()
    bound = runner.addresses[0][1]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"{ANNOUNCEMENT} {server.model_name} on http://{host}:{bound} (Ctrl-C stops)",
          flush=True)
    await stop.wait()
    logging.info("Stopping: finishing in-flight requests")
    await runner.cleanup()
    server.executor.shutdown(wait=True)
    print("Stopped.", flush=True)


def main(_) -> None:
    """Entry point."""
    from official.recommendation import recommend

    f = flags.FLAGS
    export = recommend.load_export(f.export_dir)
    server = Server(export, f.model_name, f.batch_window_ms / 1000.0, f.max_batch,
                    f.model_threads)
    try:
        limits = connections.Limits(
            connections.fitted_max_connections(f.max_connections), f.header_timeout_s,
            f.keepalive_timeout_s)
    except ValueError as e:
        raise UserError(str(e)) from e
    try:
        asyncio.run(serve(server, f.host, f.port, f.max_body_bytes, limits))
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
