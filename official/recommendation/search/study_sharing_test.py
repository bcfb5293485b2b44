"""A `--model auto` study killed with SIGKILL resumes to the same winner; two processes
share one study without running a slot twice (real processes, a real SQLite study)."""

import contextlib
import json
import signal
import sqlite3
import time

import optuna
import pytest

from official.recommendation.search.conftest import auto_flags, ncf_main_process, write_pairs_log

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def log(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sharing")
    return tmp, write_pairs_log(tmp / "pairs.csv")


def _trials(model_dir):
    search = json.loads((model_dir / "search.json").read_text())
    return [(t["number"], t["model"], t["settings"], t["value"], t["selected_epoch"])
            for t in search["trials"]]


RESUME = ["--auto_models=popularity,ease,ials", "--max_trials=5", "--num_factors=16"]


def test_a_study_killed_mid_trial_resumes_to_the_same_winner(log, tmp_path):
    tmp, log = log
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    proc = ncf_main_process(auto_flags(tmp, log, f"--model_dir={straight}", *RESUME))
    _, err = proc.communicate()
    assert proc.returncode == 0, err
    proc = ncf_main_process(auto_flags(tmp, log, f"--model_dir={killed}", *RESUME))
    db = killed / "study.db"
    while proc.poll() is None:  # kill inside the third trial (or a later one)
        try:  # read-only and cheap (plain sqlite3), so no running trial is missed
            with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as c:
                running = c.execute("SELECT count(*) FROM trials WHERE state = 'RUNNING' "
                                    "AND number >= 2").fetchone()[0]
        except sqlite3.Error:  # not created yet, or its tables not yet
            running = 0
        if running:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    assert proc.wait() == -signal.SIGKILL, "the run ended before it could be killed"
    assert not (killed / "eval_results.json").exists()
    proc = ncf_main_process(auto_flags(tmp, log, f"--model_dir={killed}", *RESUME))
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert "left running by a stopped run will run again" in err
    a = json.loads((straight / "eval_results.json").read_text())
    b = json.loads((killed / "eval_results.json").read_text())
    keep = lambda r: {k: v for k, v in r.items()  # noqa: E731
                      if "seconds" not in k and k not in ("export_dir", "winner_trial")}
    assert keep(a) == keep(b)
    # The same trials in the same order (the killed one ran again under a new number).
    assert [t[1:] for t in _trials(straight)] == [t[1:] for t in _trials(killed)]


def test_two_processes_share_one_study_without_duplicates(log, tmp_path):
    tmp, log = log
    storage = f"sqlite:///{tmp_path / 'shared.db'}"
    args = [f"--study_storage={storage}", "--auto_models=popularity,ease,ials",
            "--max_trials=6", "--num_factors=16"]
    procs = [ncf_main_process(auto_flags(tmp, log, f"--model_dir={tmp_path / f'p{i}'}", *args))
             for i in range(2)]
    for p in procs:
        _, err = p.communicate()
        assert p.returncode == 0, err
    study = optuna.load_study(study_name="ncf-auto", storage=storage)
    ran = [t for t in study.trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(ran) == 6
    assert [t.params["model"] for t in ran].count("popularity") == 1
    settings = [json.dumps(t.user_attrs["settings"], sort_keys=True) for t in ran]
    assert len(set(settings)) == 6
    owners = {t.user_attrs["owner"].rsplit(":", 1)[1] for t in ran}
    assert owners <= {str(p.pid) for p in procs}


