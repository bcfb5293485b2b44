import os

import optuna
import pytest
from optuna.trial import TrialState

from official.recommendation.search import study_store
from official.utils.errors import UserError

optuna.logging.set_verbosity(optuna.logging.WARNING)


def _open(url, fingerprint):
    return study_store.open_study(url, "s", fingerprint, optuna.samplers.RandomSampler(0),
                                  optuna.pruners.NopPruner())


def test_a_study_refuses_another_search_in_one_line(tmp_path):
    url = study_store.default_storage(str(tmp_path))
    assert url == f"sqlite:///{tmp_path}/study.db"
    _open(url, {"data": "a.csv", "seed": 0})
    assert _open(url, {"data": "a.csv", "seed": 0}).user_attrs["fingerprint"]["seed"] == 0
    with pytest.raises(UserError) as e:
        _open(url, {"data": "b.csv", "seed": 0})
    assert "data 'a.csv' here, 'b.csv' now" in str(e.value)
    assert "\n" not in str(e.value)


def test_trials_of_a_dead_process_fail_and_are_left_out_of_the_rows(tmp_path):
    study = _open(study_store.default_storage(str(tmp_path)), {})
    done = study.ask()
    done.set_user_attr("settings", {"model": "ease"})
    study.tell(done, 0.5)
    mine = study.ask()  # running in this (live) process
    mine.set_user_attr(study_store.OWNER, study_store.owner())
    dead = study.ask()  # running in a process that is gone
    dead.set_user_attr(study_store.OWNER, f"{study_store.owner().rsplit(':', 1)[0]}:999999999")
    other_host = study.ask()
    other_host.set_user_attr(study_store.OWNER, "elsewhere:1")
    assert study_store.fail_stale_trials(study, local=False) == 1
    states = {t.number: t.state for t in study.trials}
    assert states == {0: TrialState.COMPLETE, 1: TrialState.RUNNING, 2: TrialState.FAIL,
                      3: TrialState.RUNNING}
    assert study_store.counted(study) == 3
    assert study_store.fail_stale_trials(study, local=True) == 2  # its own: all were stale
    failed = study.ask()
    failed.set_user_attr("error", "training diverged")
    study.tell(failed, state=TrialState.FAIL)
    rows = study_store.rows(study)
    assert [(r["number"], r["state"]) for r in rows] == [(0, "complete"), (4, "fail")]
    assert rows[1]["error"] == "training diverged"
    assert os.path.exists(tmp_path / "study.db")
