"""The server's HTTP side: request handlers over the served versions, and the aiohttp app.

`serve` builds a `Server` from its flags and runs `build_app(server)`; the
endpoints and their answers are described there. No flags here.
"""

import asyncio
import json
import time
import uuid

import numpy as np
from absl import logging

from official.recommendation.serving import protocol
from official.utils.errors import first_line
from official.utils.misc import array_ops


class Server:
    """The versions being served, their metrics and the request handlers.

    Args:
      versions: a started `serving.versions.VersionManager`.
      model_name: the <name> of /v1/models/<name>.
      metrics: `serving.metrics.ServerMetrics`.
    """

    def __init__(self, versions, model_name: str, metrics):
        self.versions, self.model_name, self.metrics = versions, model_name, metrics
        metrics.version.set(versions.current.version)

    def check_name(self, request) -> None:
        """Raises `RequestError` unless the URL's <name> is this server's model."""
        if request.match_info["name"] != self.model_name:
            raise protocol.RequestError(f"no model {request.match_info['name']!r}; this "
                                        f"server has {self.model_name!r}")

    @staticmethod
    def recommendations(out: dict) -> list[dict]:
        """The JSON list of one user's items (fillers with score -inf dropped)."""
        keep = np.isfinite(out["score"])
        return protocol.recommendation_list(out["item_id"][keep], out["title"][keep],
                                            out["genres"][keep], out["score"][keep])

    async def recommend_by_id(self, request):
        """GET /recommend?user_id=U&k=K."""
        model = self.versions.current  # this request's version, whatever swaps meanwhile
        query = request.query
        text = query.get("user_id", "")
        if model.text_users:  # the log's ids are text: taken as given
            if not text:
                raise protocol.RequestError("user_id is missing")
            user, key = text, text.encode("utf-8")
        else:
            user = key = array_ops.parse_int64(text)
            if user is None:
                raise protocol.RequestError("user_id must be an integer (ASCII decimal digits "
                                            f"that fit in 64 bits), got {text!r}")
        k = protocol.positive_k(query.get("k", "10"), model.num_items)
        if not model.knows_user(key):
            raise protocol.RequestError(f"unknown user_id {user} (not in the training data; "
                                        'POST /recommend with a "history" for a new user)')
        out = await model.by_id.submit(user, k)
        return {"user_id": user, "rated": int(out["rated"]), "model_version": model.version,
                "recommendations": self.recommendations(
                    {n: v[:k] for n, v in out.items() if n != "rated"})}

    async def recommend_by_history(self, request):
        """POST /recommend {"history": [...], "k": K}."""
        model = self.versions.current
        items, k = protocol.history_of(await _json(request), model.item_dtype)
        k = protocol.positive_k(k, model.num_items)
        out = await model.by_history.submit(items, k)
        return {"history": items.tolist(),
                "unknown_item_ids": [protocol.id_value(v)
                                     for v in np.sort(out["unknown_item_id"])],
                "fallback": bool(out["fallback"]), "rated": int(out["rated"]),
                "model_version": model.version,
                "recommendations": self.recommendations(
                    {n: out[n][:k] for n in ("item_id", "title", "genres", "score")})}

    async def predict(self, request):
        """POST /v1/models/<name>[/versions/<v>]:predict (TF Serving's REST API)."""
        self.check_name(request)
        model = self._version(request)
        body = await _json(request)
        name = body.get("signature_name", "serving_default") if isinstance(body, dict) else ""
        if name not in model.specs:
            raise protocol.RequestError(f"no signature {name!r}; the export has "
                                        f"{', '.join(sorted(model.specs))}")
        if isinstance(body, dict):
            body = {k: v for k, v in body.items() if k != "signature_name"}
        arrays, rows = protocol.predict_inputs(body, model.specs[name])
        out = await asyncio.get_running_loop().run_in_executor(model.executor,
                                                               model.predict, name, arrays)
        return protocol.predict_response(out, rows)

    def _version(self, request):
        """The servable a URL names (its /versions/<v>, else the current one)."""
        text = request.match_info.get("version")
        if text is None:
            return self.versions.current
        try:
            return self.versions.get(int(text))
        except KeyError as e:
            raise NotLoadedError(e.args[0]) from None

    async def status(self, request):
        """GET /v1/models/<name>[/versions/<v>]."""
        self.check_name(request)
        text = request.match_info.get("version")
        answer = self.versions.status(None if text is None else int(text))
        if not answer["model_version_status"]:
            raise NotLoadedError(f"version {text} of {self.model_name!r} was never seen here")
        return answer


class NotLoadedError(LookupError):
    """A version the request names is not loaded: 404 with its one line."""


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

    from official.recommendation.serving.metrics import CONTENT_TYPE

    def json_route(handler):
        async def wrapped(request):
            try:
                return web.json_response(await handler(request))
            except protocol.RequestError as e:
                return web.json_response({"error": str(e)}, status=400)
            except NotLoadedError as e:
                return web.json_response({"error": str(e)}, status=404)
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

    async def health(_):
        return {"status": "ok"}

    async def metrics(_):
        return web.Response(body=server.metrics.exposition(),
                            headers={"Content-Type": CONTENT_TYPE})

    @web.middleware
    async def counted(request, handler):
        """Every answer counted by route and status, with its latency."""
        start = time.perf_counter()
        response = await handler(request)
        route = request.match_info.route
        resource = getattr(route, "resource", None)
        endpoint = (f"{resource.canonical} {request.method}" if resource is not None
                    else "other")
        server.metrics.observe_request(endpoint, response.status, time.perf_counter() - start)
        return response

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

    app = web.Application(client_max_size=max_body_bytes,
                          middlewares=[counted, json_http_errors])
    app.router.add_get("/healthz", json_route(health))
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/v1/models/{name}", json_route(server.status))
    app.router.add_get(r"/v1/models/{name}/versions/{version:\d+}", json_route(server.status))
    app.router.add_post("/v1/models/{name}:predict", json_route(server.predict))
    app.router.add_post(r"/v1/models/{name}/versions/{version:\d+}:predict",
                        json_route(server.predict))
    app.router.add_get("/recommend", json_route(server.recommend_by_id))
    app.router.add_post("/recommend", json_route(server.recommend_by_history))
    return app


