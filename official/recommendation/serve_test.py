"""The HTTP server as a real process on 127.0.0.1: answers, bad requests, load, SIGTERM."""

import json
import signal
import subprocess
import sys
import threading
import urllib.error
import urllib.parse
import urllib.request

import numpy as np
import pytest
import tensorflow as tf

from official.recommendation import recommend, serve
from official.recommendation.conftest import train_export

# Starts processes or clusters, or trains real models for a while: not in make test-fast.
pytestmark = pytest.mark.slow


def _start(export_dir, *args):
    proc = subprocess.Popen([sys.executable, "-m", "official.recommendation.serve",
                             f"--export_dir={export_dir}", "--port=0", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    base = serve.announced_url(line)
    assert base, (line, proc.stderr.read() if proc.poll() is not None else "")
    assert urllib.parse.urlsplit(base).hostname == "127.0.0.1"  # the default --host
    return proc, base


def _call(url, body=None, raw=None):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, method="POST" if data is not None
                                     else "GET", headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp, data = train_export(tmp_path_factory.mktemp("serve"))
    proc, base = _start(tmp / "export", "--batch_window_ms=5")
    yield tmp, data, base, recommend.load_export(str(tmp / "export"))
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0


def test_each_endpoint_answers_what_the_export_answers(served):
    tmp, data, base, export = served
    assert _call(f"{base}/healthz") == (200, {"status": "ok"})
    status, body = _call(f"{base}/v1/models/ncf")
    assert status == 200 and body["model_version_status"][0]["state"] == "AVAILABLE"
    users, items = data.user_ids[[0, 3, 5]], data.item_ids[[1, 2, 9]]
    direct = export.serving_default(user_id=tf.constant(users), item_id=tf.constant(items))
    status, rows = _call(f"{base}/v1/models/ncf:predict", {"instances": [
        {"user_id": int(u), "item_id": int(i)} for u, i in zip(users, items, strict=True)]})
    assert status == 200
    np.testing.assert_allclose([r["logit"] for r in rows["predictions"]],
                               direct["logit"].numpy(), rtol=1e-5)
    status, cols = _call(f"{base}/v1/models/ncf:predict", {
        "inputs": {"user_id": users.tolist(), "item_id": items.tolist()}})
    np.testing.assert_allclose(cols["outputs"]["score"], direct["score"].numpy(), rtol=1e-5)
    status, ranked = _call(f"{base}/v1/models/ncf:predict", {
        "signature_name": "recommend", "inputs": {"user_id": [int(users[0])], "k": 3}})
    mine = export.recommend(user_id=tf.constant(users[:1]), k=tf.constant(3))
    assert status == 200 and ranked["outputs"]["item_id"] == mine["item_id"].numpy().tolist()
    status, by_id = _call(f"{base}/recommend?user_id={int(users[0])}&k=3")
    assert status == 200 and [r["item_id"] for r in by_id["recommendations"]] == \
        mine["item_id"].numpy()[0].tolist()
    assert by_id["recommendations"][0]["title"] == mine["title"].numpy()[0, 0].decode()
    history = [int(i) for i in data.item_ids[[4, 8]]]
    status, new = _call(f"{base}/recommend", {"history": [*history, 999_999], "k": 4})
    folded = export.recommend_for_history(item_id=tf.constant(history + [999_999], tf.int64),
                                          k=tf.constant(4))
    assert status == 200 and new["unknown_item_ids"] == [999_999] and not new["fallback"]
    assert [r["item_id"] for r in new["recommendations"]] == folded["item_id"].numpy().tolist()


def test_every_bad_request_is_a_400_and_the_server_goes_on(served):
    _, data, base, _ = served
    user = int(data.user_ids[0])
    cases = [
        (f"{base}/recommend?user_id=abc", None, None, "user_id must be an integer"),
        (f"{base}/recommend?user_id={user}&k=0", None, None, "k must be an integer"),
        (f"{base}/recommend?user_id={user}&k=100000", None, None, "k must be an integer"),
        (f"{base}/recommend?user_id=999999", None, None, "unknown user_id 999999"),
        (f"{base}/recommend", None, b"{not json", "malformed JSON"),
        (f"{base}/recommend", {"history": "1,2"}, None, '"history" must be a list'),
        (f"{base}/recommend", {"history": [1, "x"]}, None, "must hold int64 values"),
        (f"{base}/recommend", {"history": list(range(6000))}, None, "at most 5000"),
        (f"{base}/recommend", {"history": [1], "k": -1}, None, "k must be an integer"),
        (f"{base}/v1/models/ncf:predict", {"instances": [{"user_id": 1}]}, None,
         "input 'item_id' is missing"),
        (f"{base}/v1/models/ncf:predict", {"inputs": {"user_id": ["a"], "item_id": [1]}},
         None, "must hold int64 values"),
        (f"{base}/v1/models/ncf:predict", {"inputs": {"user_id": [999999], "item_id": [
            int(data.item_ids[0])]}}, None, "unknown user_id"),
        (f"{base}/v1/models/ncf:predict", {"instances": [], "inputs": {}}, None,
         "give exactly one of"),
        (f"{base}/v1/models/other:predict", {"instances": [1]}, None, "no model 'other'"),
        (f"{base}/v1/models/ncf:predict", {"signature_name": "x", "instances": [1]}, None,
         "no signature 'x'"),
    ]
    for url, body, raw, message in cases:
        status, answer = _call(url, body, raw)
        assert status == 400 and message in answer["error"], (url, body, answer)
        assert "\n" not in answer["error"]
    status, answer = _call(f"{base}/recommend", raw=b"[" + b"1," * 600_000 + b"1]")
    assert status == 413 and "request body over" in answer["error"]
    assert _call(f"{base}/nowhere") == (404, {"error": "Not Found: GET /nowhere"})
    assert _call(f"{base}/healthz") == (200, {"status": "ok"})


def test_concurrent_requests_have_no_errors(served):
    _, data, base, export = served
    users = [int(u) for u in data.user_ids[:20]]
    expected = export.recommend(user_id=tf.constant(users, tf.int64), k=tf.constant(5))
    expected = expected["item_id"].numpy()
    histories = [[int(i) for i in data.item_ids[[row, row + 7, row + 30][:1 + row % 3]]]
                 for row in range(len(users))]
    alone = [export.recommend_for_history(item_id=tf.constant(h, tf.int64),
                                          k=tf.constant(10))["item_id"].numpy().tolist()
             for h in histories]
    failures = []

    def client(worker):
        for n in range(13):
            row = (worker * 13 + n) % len(users)
            if n % 4 == 3:  # new users, folded in together: each as it would be alone
                status, body = _call(f"{base}/recommend", {"history": histories[row]})
                ok = status == 200 and [r["item_id"] for r in body["recommendations"]] == \
                    alone[row]
            else:
                status, body = _call(f"{base}/recommend?user_id={users[row]}&k=5")
                ok = status == 200 and [r["item_id"] for r in body["recommendations"]] == \
                    expected[row].tolist()
            if not ok:
                failures.append((worker, n, status))

    threads = [threading.Thread(target=client, args=(w,)) for w in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not failures, failures[:5]


def test_sigterm_lets_an_in_flight_request_finish(served, tmp_path):
    tmp, data, _, _ = served
    # A long batching window keeps the request in flight while SIGTERM arrives.
    proc, base = _start(tmp / "export", "--batch_window_ms=1500")
    result = {}
    user = int(data.user_ids[2])
    thread = threading.Thread(target=lambda: result.update(
        answer=_call(f"{base}/recommend?user_id={user}&k=2")))
    thread.start()
    import time

    time.sleep(0.5)
    proc.send_signal(signal.SIGTERM)
    thread.join(timeout=60)
    assert proc.wait(timeout=60) == 0
    status, body = result["answer"]
    assert status == 200 and body["user_id"] == user and len(body["recommendations"]) == 2


def _samples(base) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as response:
        assert response.headers["Content-Type"].startswith("text/plain")
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_metrics_parse_and_count_the_requests_made(served):
    _, data, base, _ = served
    before = _samples(base)
    user = int(data.user_ids[4])
    for _ in range(3):
        assert _call(f"{base}/recommend?user_id={user}&k=2")[0] == 200
    for item in data.item_ids[:2]:
        assert _call(f"{base}/recommend", {"history": [int(item)], "k": 2})[0] == 200
    assert _call(f"{base}/recommend?user_id=abc")[0] == 400
    after = _samples(base)

    def moved(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert moved("official_serve_requests_total", endpoint="/recommend GET", status="200") == 3
    assert moved("official_serve_requests_total", endpoint="/recommend GET", status="400") == 1
    assert moved("official_serve_requests_total", endpoint="/recommend POST", status="200") == 2
    assert moved("official_serve_request_seconds_count", endpoint="/recommend GET") == 4
    assert moved("official_serve_fold_in_users_total") == 2
    assert moved("official_serve_fold_in_calls_total") == 2  # one at a time: two calls
    assert moved("official_serve_batch_size_count", kind="by_id") == 3
    assert moved("official_serve_batch_size_sum", kind="by_history") == 2
    assert after[("official_serve_model_version", ())] == 1
    assert after[("official_serve_reloads_total", (("result", "failure"),))] == 0
