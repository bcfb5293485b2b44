"""Versions under --model_base_path, live: new ones swapped in, damaged ones refused, metrics."""

import glob
import os
import shutil
import signal
import subprocess
import sys
import threading
import time

import numpy as np
import pytest
from prometheus_client.parser import text_string_to_metric_families

from official.recommendation import ncf_main, recommend, serve
from official.recommendation.conftest import EXPORT_SMALL, train_export
from official.recommendation.serve_test import _call
from official.utils.misc import saved_model_export

# Starts processes or clusters, or trains real models for a while: not in make test-fast.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp, data = train_export(tmp_path_factory.mktemp("versions"))
    return tmp / "export", data


def _start(*args):
    proc = subprocess.Popen([sys.executable, "-m", "official.recommendation.serve",
                             "--port=0", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    base = serve.announced_url(proc.stdout.readline())
    assert base, proc.stderr.read() if proc.poll() is not None else ""
    return proc, base


def _stop(proc) -> str:
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    return err


def _drop(export, base, version: int, damage: bool = False) -> None:
    """Puts a copy of `export` at base/<version>, complete before it appears."""
    staging = base / f".staging-{version}"
    shutil.copytree(export, staging)
    if damage:  # one flipped byte in the weights: the manifest's checksum no longer matches
        data = glob.glob(str(staging / "variables" / "variables.data-*"))[0]
        with open(data, "r+b") as f:
            byte = f.read(1)
            f.seek(0)
            f.write(bytes([byte[0] ^ 0xFF]))
    os.rename(staging, base / str(version))


def _metrics(base) -> dict:
    import urllib.request

    with urllib.request.urlopen(f"{base}/metrics", timeout=30) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def _wait_for(predicate, seconds: float = 60.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_sighup_swaps_in_a_new_version_refuses_a_damaged_one_and_drops_no_request(
        trained, tmp_path):
    export, data = trained
    base = tmp_path / "versions"
    base.mkdir()
    _drop(export, base, 1)
    proc, url = _start(f"--model_base_path={base}", "--poll_seconds=0", "--keep_versions=2",
                       "--batch_window_ms=50")
    user = int(data.user_ids[0])
    try:
        assert _call(f"{url}/v1/models/ncf")[1] == {"model_version_status": [
            {"version": "1", "state": "AVAILABLE",
             "status": {"error_code": "OK", "error_message": ""}}]}
        # A damaged version 2: refused, version 1 goes on answering.
        _drop(export, base, 2, damage=True)
        proc.send_signal(signal.SIGHUP)
        _wait_for(lambda: len(_call(f"{url}/v1/models/ncf")[1]["model_version_status"]) == 2)
        status = _call(f"{url}/v1/models/ncf")[1]["model_version_status"]
        assert [(s["version"], s["state"]) for s in status] == [("2", "END"),
                                                                 ("1", "AVAILABLE")]
        assert "damaged" in status[0]["status"]["error_message"]
        answer = _call(f"{url}/recommend?user_id={user}&k=3")
        assert answer[0] == 200 and answer[1]["model_version"] == 1
        # Version 3 arrives while clients keep asking: every request answers 200.
        seen, failures, stop = [], [], threading.Event()

        def client(worker: int) -> None:
            n = 0
            while not stop.is_set():
                if n % 2:
                    code, body = _call(f"{url}/recommend", {"history": [int(
                        data.item_ids[(worker + n) % 20])], "k": 3})
                else:
                    code, body = _call(f"{url}/recommend?user_id={user}&k=3")
                n += 1
                if code != 200:
                    failures.append((code, body))
                else:
                    seen.append((worker, body["model_version"]))

        threads = [threading.Thread(target=client, args=(w,)) for w in range(6)]
        for t in threads:
            t.start()
        time.sleep(1.0)
        _drop(export, base, 3)
        proc.send_signal(signal.SIGHUP)
        _wait_for(lambda: any(v == 3 for _, v in seen[-6:]))
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(60)
        assert not failures, failures[:3]
        versions = [v for _, v in seen]
        assert versions[0] == 1 and versions[-1] == 3 and set(versions) == {1, 3}
        for worker in range(6):  # a client never goes back to the old version
            mine = [v for w, v in seen if w == worker]
            assert mine == sorted(mine), mine
        # Versions 1 and 3 are loaded (--keep_versions 2): each can be pinned.
        pairs = {"inputs": {"user_id": [user], "item_id": [int(data.item_ids[0])]}}
        for version in (1, 3):
            code, body = _call(f"{url}/v1/models/ncf/versions/{version}:predict", pairs)
            assert code == 200 and len(body["outputs"]["score"]) == 1
        code, body = _call(f"{url}/v1/models/ncf/versions/2:predict", pairs)
        assert code == 404 and body["error"] == "version 2 is not loaded (loaded: 1, 3)"
        assert _call(f"{url}/v1/models/ncf/versions/3")[1]["model_version_status"][0][
            "state"] == "AVAILABLE"
        metrics = _metrics(url)
        assert metrics[("official_serve_reloads_total", (("result", "success"),))] == 1
        assert metrics[("official_serve_reloads_total", (("result", "failure"),))] == 1
        assert metrics[("official_serve_model_version", ())] == 3
    finally:
        err = _stop(proc)
    warnings = [line for line in err.splitlines() if "Version 2 of" in line]
    assert len(warnings) == 1 and "damaged" in warnings[0] and \
        "still serving version 1" in warnings[0], warnings


def test_the_poll_finds_a_version_written_by_ncf_main_export_versioned(trained, tmp_path):
    export, data = trained
    base = tmp_path / "versions"
    base.mkdir()
    _drop(export, base, 1)
    proc, url = _start(f"--model_base_path={base}", "--poll_seconds=0.2")
    try:
        assert _call(f"{url}/recommend?user_id={int(data.user_ids[1])}")[1][
            "model_version"] == 1
        ncf_main.run_from_flags(_flags(tmp_path, base))
        assert saved_model_export.versions(str(base)) == [1, 2]
        assert recommend.load_export(str(base / "2")) is not None
        _wait_for(lambda: _call(f"{url}/v1/models/ncf")[1]["model_version_status"][0]
                  == {"version": "2", "state": "AVAILABLE",
                      "status": {"error_code": "OK", "error_message": ""}})
        code, body = _call(f"{url}/recommend?user_id={int(data.user_ids[1])}")
        assert code == 200 and body["model_version"] == 2
        # --keep_versions 1: version 1 is released, no longer pinnable.
        assert _call(f"{url}/v1/models/ncf/versions/1:predict", {"instances": [
            {"user_id": int(data.user_ids[1]), "item_id": int(data.item_ids[0])}]})[0] == 404
    finally:
        _stop(proc)


def _flags(tmp_path, base):
    from absl import flags

    from official.recommendation import ncf_flags

    fv = flags.FlagValues()
    ncf_flags.define_ncf_flags(fv)
    fv(["ncf_main", *EXPORT_SMALL, f"--data_dir={tmp_path / 'data'}",
        f"--model_dir={tmp_path / 'model'}", "--train_epochs=1", f"--export_dir={base}",
        "--export_versioned"])
    return fv


def test_nothing_to_serve_is_one_line_and_a_nonzero_exit(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (tmp_path / "file").write_text("x")
    for args, message in [
            ([f"--model_base_path={tmp_path / 'file'}"], "is a file, not a directory"),
            ([f"--model_base_path={empty}"], "no versions there"),
            ([f"--model_base_path={tmp_path / 'nowhere'}"], "no such directory"),
            ([f"--model_base_path={empty}", f"--export_dir={empty}"],
             "give exactly one of --export_dir and --model_base_path")]:
        proc = subprocess.run([sys.executable, "-m", "official.recommendation.serve",
                               "--port=0", *args], capture_output=True, text=True, timeout=120)
        lines = [line for line in proc.stderr.splitlines() if line.strip()]
        assert proc.returncode != 0 and message in lines[-1], proc.stderr[-500:]
    np.testing.assert_equal(saved_model_export.versions(str(empty)), [])
