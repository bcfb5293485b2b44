"""Every program's documented error paths end in exactly one `error:` line, and nothing after.

Real processes; downloads against a refusing 127.0.0.1 port and a host
name that cannot resolve (refused before any DNS query). A run may log what
it did before failing (in the terminal format, `HH:MM:SS ...`); anything
else on stderr (a traceback, TensorFlow's shutdown or checkpoint warnings,
absl's "Pass --helpshort") is a failure of this test.
"""

import os
import re
import subprocess
import sys

import pytest

from official.utils.testing.local_cluster import free_ports

pytestmark = pytest.mark.slow

LOG_LINE = re.compile(r"^\d\d:\d\d:\d\d( (WARNING|ERROR))? ")
# A host name with a character DNS forbids: glibc refuses it before sending any query
# (checked with strace; a `.invalid` name is still sent to the resolver), so name
# resolution fails as on a machine offline without any network traffic.
OFFLINE = "http://localhost!offline/data"
SMALL_NCF = ["--dataset=synthetic", "--synthetic_users=200", "--synthetic_items=300",
             "--synthetic_ratings=5000"]


def _start(args: list[str], code: str | None = None) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # what a user's shell has: TensorFlow's defaults
    command = [sys.executable, "-c", code, *args] if code else [sys.executable, "-m", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env)


def _error_line(proc: subprocess.Popen) -> str:
    """The one `error:` line of a finished process (asserting it is the only other line)."""
    out, err = proc.communicate(timeout=300)
    lines = [line for line in err.splitlines() if line.strip()]
    others = [line for line in lines if not LOG_LINE.match(line)]
    assert proc.returncode == 1, (proc.args, err)
    assert len(others) == 1 and others[0].startswith("error: ") and lines[-1] == others[0], err
    return others[0]


def test_every_program_fails_in_one_line(tmp_path):
    closed = f"http://127.0.0.1:{free_ports(1)[0]}"
    no_ydf = ("import sys; sys.modules['ydf'] = None; sys.argv[0] = 'census_main'; "
              "from official.wide_deep import census_main; census_main.cli_main()")
    cases = {
        "ncf flag": (["official.recommendation.ncf_main", "--model=nope"], None),
        "ncf missing log": (["official.recommendation.ncf_main",
                             f"--interactions={tmp_path}/none.csv",
                             f"--model_dir={tmp_path}/m1"], None),
        "ncf offline": (["official.recommendation.ncf_main", "--dataset=ml-100k",
                         f"--data_url={OFFLINE}", f"--data_dir={tmp_path}/d1",
                         f"--model_dir={tmp_path}/m2"], None),
        "census offline": (["official.wide_deep.census_main", f"--data_url={OFFLINE}",
                            f"--data_dir={tmp_path}/d2", f"--model_dir={tmp_path}/m3"], None),
        "census refused": (["official.wide_deep.census_main", f"--data_url={closed}",
                            f"--data_dir={tmp_path}/d3", f"--model_dir={tmp_path}/m4"], None),
        "census no trees": (["--model_type=gbt", "--dataset=synthetic",
                             f"--data_dir={tmp_path}/d4", f"--model_dir={tmp_path}/m5"],
                            no_ydf),
        "census flag": (["official.wide_deep.census_main", "--batch_size=0"], None),
        "regressor flag": (["official.wide_deep.movielens_main", "--learning_rate=-1"], None),
        "regressor offline": (["official.wide_deep.movielens_main", "--dataset=ml-100k",
                               f"--data_url={OFFLINE}", f"--data_dir={tmp_path}/d5",
                               f"--model_dir={tmp_path}/m6"], None),
        "movielens offline": (["official.datasets.movielens", "--dataset=ml-1m",
                               f"--data_url={OFFLINE}", f"--data_dir={tmp_path}/d6"], None),
        "interactions missing": (["official.datasets.interactions",
                                  f"--interactions={tmp_path}/none.csv",
                                  f"--data_dir={tmp_path}/d7"], None),
        "census data offline": (["official.wide_deep.census_dataset", f"--data_url={OFFLINE}",
                                 f"--data_dir={tmp_path}/d8"], None),
        "recommend no export": (["official.recommendation.recommend",
                                 f"--export_dir={tmp_path}/none", "--user_id=1"], None),
        "serve no export": (["official.recommendation.serve", f"--export_dir={tmp_path}/none"],
                            None),
        "auto flag": (["official.recommendation.ncf_main", "--model=auto", "--novalidation"],
                      None),
        "auto storage": (["official.recommendation.ncf_main", "--model=auto", *SMALL_NCF,
                          "--study_storage=nosuchdb://x", f"--data_dir={tmp_path}/d9",
                          f"--model_dir={tmp_path}/m7"], None),
        "refit epochs": (["official.recommendation.ncf_main", *SMALL_NCF, "--retrain_epochs=3",
                          f"--data_dir={tmp_path}/d10", f"--model_dir={tmp_path}/m8"], None),
    }
    procs = {name: _start(args, code) for name, (args, code) in cases.items()}
    lines = {name: _error_line(proc) for name, proc in procs.items()}
    assert "--help lists the flags" in lines["ncf flag"]
    assert f"{tmp_path}/none.csv" in lines["ncf missing log"]
    for name, what, url in (("ncf offline", "MovieLens ml-100k", f"{OFFLINE}/ml-100k.zip "),
                            ("movielens offline", "MovieLens ml-1m", f"{OFFLINE}/ml-1m.zip "),
                            ("regressor offline", "MovieLens ml-100k", f"{OFFLINE}/ml-100k.zip "),
                            ("census offline", "census adult.data", f"{OFFLINE}/adult.data "),
                            ("census data offline", "census adult.data",
                             f"{OFFLINE}/adult.data ")):
        # The dataset and the data's URL (not its .md5), offline, and the two ways out.
        assert f"cannot download {what} from {url}(this machine seems offline)" in lines[name]
        assert "--data_url DIR" in lines[name] and "--dataset synthetic" in lines[name]
    assert (f"cannot download census adult.data from {closed}/adult.data (connection refused, "
            "also after 4 retries); ") in lines["census refused"]
    assert "kept" not in lines["census refused"]  # nothing was received, nothing is kept
    assert "official-recommendation[trees]" in lines["census no trees"]
    assert "ydf is not installed" in lines["census no trees"]
    assert "--model auto selects on validation" in lines["auto flag"]
    assert lines["auto storage"].startswith("error: --study_storage nosuchdb://x: cannot open "
                                            "the study")
    assert not os.path.exists(f"{tmp_path}/m7")  # nothing of the failed run is left
    assert "--retrain_epochs sets the refit's epochs: it needs --retrain_on_full" in lines[
        "refit epochs"]
    assert not os.path.exists(f"{tmp_path}/m8")


def test_a_model_dir_of_another_model_is_one_line(tmp_path):
    common = [*SMALL_NCF, f"--data_dir={tmp_path}/d", f"--model_dir={tmp_path}/m"]
    first = _start(["official.recommendation.ncf_main", "--model=ease", *common])
    out, err = first.communicate(timeout=300)
    assert first.returncode == 0, err
    line = _error_line(_start(["official.recommendation.ncf_main", "--model=mf", *common]))
    assert line == (f"error: --model_dir {tmp_path}/m holds a checkpoint of ncf_main --model "
                    "ease, not of ncf_main --model mf; add --clean to start over in it, or "
                    "choose another --model_dir")
