"""Where a `--model auto` study lives: an Optuna RDB storage, local or shared.

By default the study is `sqlite:///<model_dir>/study.db`: a killed run finds
it there and resumes. `--study_storage URL` (e.g. `postgresql://...`, or a
SQLite file every process can reach) lets several processes or machines
share one study; each runs trials until the study has `--max_trials` or its
own budget is spent.

A study remembers what it was made for (`fingerprint`: data, metric, seed,
...); opening it for something else is refused, so trials of different
searches are never compared.
"""

import os
import socket
import time
from typing import Any

import optuna
from optuna.trial import TrialState

from official.utils.errors import UserError

STUDY_DB = "study.db"
OWNER = "owner"  # trial user attribute: "host:pid" of the process running it
_OPEN_ATTEMPTS = 4
SQLITE_TIMEOUT_S = 60


def default_storage(model_dir: str) -> str:
    """The SQLite URL of the study kept in `model_dir`."""
    return f"sqlite:///{os.path.abspath(os.path.join(model_dir, STUDY_DB))}"


def owner() -> str:
    """This process as a trial's owner: "host:pid"."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _storage(url: str):
    """The RDB storage of `url` (SQLite waits up to a minute for another's write).

    SQLite's default wait, 5 s, can fail two processes sharing a study on a
    busy machine.
    """
    if url.startswith("sqlite"):
        return optuna.storages.RDBStorage(url, engine_kwargs={"connect_args": {
            "timeout": SQLITE_TIMEOUT_S}})
    return url


def open_study(storage: str, name: str, fingerprint: dict[str, Any], sampler,
               pruner) -> optuna.Study:
    """Creates or loads the study, checks it was made for the same search.

    Raises:
      UserError: the storage cannot be opened, or the study was made for
        other data or settings.
    """
    for attempt in range(_OPEN_ATTEMPTS):
        try:
            study = optuna.create_study(storage=_storage(storage), study_name=name,
                                        sampler=sampler,
                                        pruner=pruner, direction="maximize",
                                        load_if_exists=True)
            break
        except optuna.exceptions.DuplicatedStudyError:  # another process created it just now
            study = optuna.load_study(storage=_storage(storage), study_name=name,
                                      sampler=sampler, pruner=pruner)
            break
        except Exception as e:  # SQLAlchemy's: unknown driver, unreachable server, a race
            # of two processes creating the same new database's tables, ...
            if attempt + 1 == _OPEN_ATTEMPTS:
                raise UserError(f"--study_storage {storage}: cannot open the study "
                                f"({type(e).__name__}: {str(e).splitlines()[0]})") from e
            time.sleep(0.5 * (attempt + 1))
    made_for = study.user_attrs.get("fingerprint")
    if made_for is None:
        study.set_user_attr("fingerprint", fingerprint)
    elif made_for != fingerprint:
        differ = ", ".join(f"{k} {made_for.get(k)!r} here, {fingerprint.get(k)!r} now"
                           for k in sorted(set(made_for) | set(fingerprint))
                           if made_for.get(k) != fingerprint.get(k))
        raise UserError(f"study {name!r} in {storage} was made for another search ({differ}); "
                        "use another --study_name or --model_dir, or --clean")
    return study


def fail_stale_trials(study: optuna.Study, local: bool) -> int:
    """Marks trials left running by a dead process as failed; returns how many.

    Args:
      study: the study.
      local: the study is this run's own (in its locked model_dir): every
        running trial is stale. Otherwise only trials of this host whose
        process is gone are.
    """
    host = socket.gethostname()
    stale = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        who = str(t.user_attrs.get(OWNER, ":"))
        h, _, pid = who.rpartition(":")
        if local or (h == host and pid.isdigit() and not _alive(int(pid))):
            study.tell(t.number, state=TrialState.FAIL, skip_if_finished=True)
            stale += 1
    return stale


def counted(study: optuna.Study) -> int:
    """Trials that count towards --max_trials: finished, running or ended in an error."""
    return sum(1 for t in study.get_trials(deepcopy=False)
               if t.state != TrialState.FAIL or "error" in t.user_attrs)


def rows(study: optuna.Study) -> list[dict[str, Any]]:
    """Every trial that ran, as plain data (search.json and the report)."""
    out = []
    for t in study.get_trials(deepcopy=False):
        if t.state == TrialState.FAIL and "error" not in t.user_attrs:
            continue  # killed with its process, or over --max_trials: rerun or never ran
        attrs = dict(t.user_attrs)
        out.append({"number": t.number, "state": t.state.name.lower(),
                    "model": t.params.get("model"), "value": attrs.get("value"),
                    "settings": attrs.get("settings", {}), **{
                        k: attrs.get(k) for k in ("selected_epoch", "epochs", "metrics",
                                                  "curve", "seconds", "train_seconds",
                                                  "peak_rss_mb", "stopped", "chosen",
                                                  "error", "started")}})
    return out
