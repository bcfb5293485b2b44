"""The server against hostile clients (real processes, real sockets on 127.0.0.1)."""

import json
import resource
import signal
import socket
import subprocess
import sys
import time
import urllib.parse

import pytest

from official.recommendation import serve
from official.recommendation.conftest import train_export

# Starts processes or clusters, or trains real models for a while: not in make test-fast.
pytestmark = pytest.mark.slow

FD_LIMIT = 256


def _limit_descriptors():  # runs in the server's own child process
    resource.setrlimit(resource.RLIMIT_NOFILE, (FD_LIMIT, FD_LIMIT))


def _start(export_dir, *args):
    proc = subprocess.Popen([sys.executable, "-m", "official.recommendation.serve",
                             f"--export_dir={export_dir}", "--port=0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_limit_descriptors)
    base = serve.announced_url(proc.stdout.readline())
    assert base, proc.stderr.read() if proc.poll() is not None else "no announcement"
    return proc, urllib.parse.urlsplit(base).port


def _stop(proc) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-2000:]
    return err


def _exchange(port, data: bytes, timeout=30.0) -> bytes:
    """Sends `data`, returns all the server answers until it closes (bounded by `timeout`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        return _read_all(s)


def _read_all(s) -> bytes:
    out = b""
    try:
        while chunk := s.recv(65536):
            out += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return out


def _answer(raw: bytes) -> tuple[int, dict]:
    head, _, body = raw.partition(b"\r\n\r\n")
    return int(head.split()[1]), json.loads(body)


def _request(method, path, body=b"", headers=""):
    return (f"{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n{headers}"
            f"Content-Length: {len(body)}\r\n\r\n").encode() + body


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    tmp, _ = train_export(tmp_path_factory.mktemp("limits"))
    return tmp / "export"


def test_hostile_requests_are_4xx_with_one_json_line_and_no_traceback(export_dir):
    proc, port = _start(export_dir)
    deep = b"[" * 10_000 + b"]" * 10_000
    predict = "/v1/models/ncf:predict"
    cases = [
        (_request("GET", "/recommend?user_id=%C2%B2"), 400, "user_id must be an integer"),
        (_request("GET", "/recommend?user_id=--5"), 400, "user_id must be an integer"),
        (_request("GET", "/recommend?user_id=99999999999999999999"), 400,
         "user_id must be an integer"),
        (_request("GET", "/recommend?user_id=1&k=%C2%B2"), 400, "k must be an integer"),
        (_request("GET", "/recommend?user_id=1&k=%2B%2B3"), 400, "k must be an integer"),
        (_request("POST", "/recommend", deep), 400, "nested more than 32 levels"),
        (_request("POST", predict, deep), 400, "nested more than 32 levels"),
        (_request("POST", predict, json.dumps({"signature_name": "recommend", "inputs": {
            "user_id": [1], "k": 2 ** 40}}).encode()), 400, "'k' must hold int32 values"),
        (_request("POST", predict, json.dumps({"signature_name": "id_maps",
                                               "instances": [{}]}).encode()), 400,
         "takes no inputs"),
        (_request("POST", predict, json.dumps({"inputs": {"user_id": [[1]], "item_id": [1]}})
                  .encode()), 400, "must have shape [N]"),
        (_request("GET", "/" + "a" * 9000), 400, "bad request"),
        (_request("GET", "/healthz", headers=f"X-Big: {'b' * 9000}\r\n"), 400, "bad request"),
    ]
    try:
        for data, status, message in cases:
            got, body = _answer(_exchange(port, data))
            assert got == status and message in body["error"], (data[:80], got, body)
            assert set(body) == {"error"} and "\n" not in body["error"]
        assert _answer(_exchange(port, _request("GET", "/healthz"))) == (200, {"status": "ok"})
    finally:
        err = _stop(proc)
    assert "Traceback" not in err and "please report" not in err


def test_idle_and_excess_connections_cannot_starve_new_clients(export_dir):
    proc, port = _start(export_dir, "--header_timeout_s=5", "--keepalive_timeout_s=1")
    idle = []
    try:
        for _ in range(300):  # more than the descriptor limit allows, none sends a byte
            s = socket.create_connection(("127.0.0.1", port), timeout=30)
            idle.append(s)
        answers = [_read_all(s) for s in idle]
        statuses = [_answer(a)[0] for a in answers if a]
        # Beyond the cap: 503 at once; the others: 408 once the header deadline passed.
        assert 503 in statuses and 408 in statuses, statuses
        assert set(statuses) <= {408, 503}
        for s in idle:
            s.close()
        ok = None
        for _ in range(30):  # bounded: the freed slots serve a new client
            raw = _exchange(port, _request("GET", "/healthz"))
            ok = raw and _answer(raw)
            if ok == (200, {"status": "ok"}):
                break
            time.sleep(1)
        assert ok == (200, {"status": "ok"})
        # A kept-alive connection that goes idle is closed by the server.
        with socket.create_connection(("127.0.0.1", port), timeout=30) as s:
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n")
            raw = _read_all(s)
        assert raw.startswith(b"HTTP/1.1 200") and raw.endswith(b'{"status": "ok"}')
    finally:
        for s in idle:
            s.close()
        err = _stop(proc)
    lines = err.splitlines()
    assert any("--max_connections 512 lowered to" in line for line in lines), lines
    assert "Traceback" not in err and "Too many open files" not in "\n".join(
        line for line in lines if "cannot accept connections" not in line)
    assert len(lines) < 20, lines


def test_a_bug_is_a_500_whose_request_id_the_log_shows_beside_the_traceback(export_dir,
                                                                              caplog):
    import asyncio
    import logging

    from absl import flags
    from aiohttp.test_utils import TestClient, TestServer


    fv = flags.FlagValues()
    serve.define_serve_flags(fv)
    fv(["serve", f"--export_dir={export_dir}", "--batch_window_ms=0"])
    server = serve.build_server(fv)

    def broken(users, k):  # stands in for a bug in the model call
        raise RuntimeError("a bug")

    server.versions.current.by_id.call = broken
    user = int(server.versions.current.user_ids[0])

    async def ask():
        async with TestClient(TestServer(serve.build_app(server, 1 << 20),
                                         host="127.0.0.1")) as client:
            response = await client.get(f"/recommend?user_id={user}")
            return response.status, await response.json()

    with caplog.at_level(logging.ERROR):
        status, body = asyncio.run(ask())
    assert status == 500 and body["error"].startswith("internal error (a bug); request id ")
    request_id = body["error"].rsplit(" ", 1)[1]
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert len(logged) == 1 and logged[0].exc_info and "a bug" in str(logged[0].exc_info[1])
