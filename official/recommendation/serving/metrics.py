"""The server's Prometheus metrics (`GET /metrics`, the Prometheus text format).

One `CollectorRegistry` per server (no process-global state):

* `official_serve_requests_total{endpoint, status}`: answered requests by
  route (`/recommend GET`, `/v1/models/{name}:predict POST`, ...; `other`
  for paths that match no route) and HTTP status;
* `official_serve_request_seconds{endpoint}`: their latency (histogram);
* `official_serve_batch_size{kind}`: requests per model call, `by_id` and
  `by_history` (histogram);
* `official_serve_fold_in_calls_total` / `official_serve_fold_in_users_total`:
  fold-in model calls and the new users they folded in;
* `official_serve_model_version`: the version new requests go to;
* `official_serve_reloads_total{result}`: version loads tried after start,
  `success` or `failure`.
"""

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
                   10.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256)
CONTENT_TYPE = CONTENT_TYPE_LATEST


class ServerMetrics:
    """The metrics of one server (see the module docstring)."""

    def __init__(self):
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("official_serve_requests", "Answered requests by route and "
                                "HTTP status.", ["endpoint", "status"], registry=r)
        self.latency = Histogram("official_serve_request_seconds", "Seconds from a request's "
                                 "arrival to its answer.", ["endpoint"],
                                 buckets=LATENCY_BUCKETS, registry=r)
        self.batch_size = Histogram("official_serve_batch_size", "Requests per model call.",
                                    ["kind"], buckets=BATCH_BUCKETS, registry=r)
        self.fold_in_calls = Counter("official_serve_fold_in_calls", "Fold-in model calls.",
                                     registry=r)
        self.fold_in_users = Counter("official_serve_fold_in_users", "New users folded in.",
                                     registry=r)
        self.version = Gauge("official_serve_model_version", "The version new requests go "
                             "to.", registry=r)
        self.reloads = Counter("official_serve_reloads", "Version loads tried after start.",
                               ["result"], registry=r)
        for result in ("success", "failure"):
            self.reloads.labels(result)  # both series exist from the start, at 0

    def observe_request(self, endpoint: str, status: int, seconds: float) -> None:
        """Counts one answered request."""
        self.requests.labels(endpoint, str(status)).inc()
        self.latency.labels(endpoint).observe(seconds)

    def observe_batch(self, kind: str, size: int) -> None:
        """Counts one model call of `size` requests."""
        self.batch_size.labels(kind).observe(size)
        if kind == "by_history":
            self.fold_in_calls.inc()
            self.fold_in_users.inc(size)

    def observe_reload(self, succeeded: bool, version: int, current: int) -> None:
        """Counts a tried load; `current` is the version now served."""
        self.reloads.labels("success" if succeeded else "failure").inc()
        self.version.set(current)

    def exposition(self) -> bytes:
        """The Prometheus text format of every metric."""
        return generate_latest(self.registry)
