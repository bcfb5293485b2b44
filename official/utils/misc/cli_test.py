import importlib
import os
import pathlib
import re
import subprocess
import sys
import tomllib

import pytest

# Starts processes or clusters, or trains real models for a while: not in make test-fast.
pytestmark = pytest.mark.slow

ROOT = pathlib.Path(__file__).resolve().parents[3]


def _scripts() -> dict[str, str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_the_trees_are_an_optional_extra_and_make_installs_them_pinned():
    base = [line.split("#")[0].strip() for line in
            (ROOT / "requirements.txt").read_text().splitlines()]
    assert not [r for r in base if r.lower().startswith("ydf")]  # pip install . has no ydf
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert sorted(r.split(">")[0].split("=")[0]
                  for r in project["optional-dependencies"]["trees"]) == ["ydf", "ydf-tf"]
    makefile = (ROOT / "Makefile").read_text()
    assert '-e ".[trees]"' in makefile and "-c constraints.txt" in makefile
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert pins["tensorflow"].startswith("2.21.") and "ydf" in pins


def test_console_scripts_are_the_readme_commands():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("| command | job |")[1].split("\n\n")[0]
    commands = set(re.findall(r"`python -m (official[\w.]+)`", table))
    scripts = _scripts()
    assert len(commands) == 10
    assert {target.split(":")[0] for target in scripts.values()} == commands
    for name, target in scripts.items():
        module, function = target.split(":")
        assert callable(getattr(importlib.import_module(module), function)), name


def test_installed_script_runs_the_same_main_as_python_m(tmp_path):
    # make installs the package (editable), so the scripts sit beside the interpreter.
    script = pathlib.Path(sys.executable).parent / "official-recommend"
    args = [f"--export_dir={tmp_path / 'missing'}", "--user_id=1"]
    for cmd in ([str(script), *args],
                [sys.executable, "-m", "official.recommendation.recommend", *args]):
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert res.returncode == 1, (cmd, res.stderr[-2000:])
        last = res.stderr.strip().splitlines()[-1]
        assert last.startswith("error: ") and "missing" in last, res.stderr[-2000:]
        assert "Traceback" not in res.stderr


def _help(module, flag):
    return subprocess.run([sys.executable, "-m", module, flag], capture_output=True,
                          text=True, timeout=120)


def test_help_lists_own_and_shared_flags_and_exits_zero():
    shared = ["--data_dir", "--model_dir", "--batch_size", "--train_epochs", "--export_dir",
              "--clean"]
    for module, own in (("official.recommendation.ncf_main", ["--model", "--ials_alpha",
                                                              "--dataset"]),
                        ("official.wide_deep.census_main", ["--model_type"])):
        res = _help(module, "--help")
        assert res.returncode == 0, (module, res.stderr[-2000:])
        for name in (*own, *shared):
            # "  --name:", "  --[no]name:" or, with a short name, "  -n,--name:".
            assert re.search(rf"[ ,]--(\[no\])?{name[2:]}:", res.stdout), (module, name)
        assert "logtostderr" not in res.stdout  # absl's own flags: --helpfull only
        first_group = next(line for line in res.stdout.splitlines()
                           if re.fullmatch(r"\S+:", line))
        assert module.rsplit(".", 1)[1] in first_group  # the program's flags come first
    full = _help("official.recommendation.recommend", "--helpfull")
    assert full.returncode == 0 and "logtostderr" in full.stdout and "--top_k" in full.stdout


def test_help_text_is_wrapped_once():
    from absl import flags

    from official.recommendation import ncf_flags

    fv = flags.FlagValues()
    ncf_flags.define_ncf_flags(fv)
    texts = [f.help for f in fv.flags_by_module_dict()[ncf_flags.__name__]]
    assert len(texts) > 30 and not [t for t in texts if "\n" in t]


STARTUP_SCRIPT = """
import sys
from official.utils.misc import cli
captured = cli.import_tensorflow_quietly()
import tensorflow as tf
print("captured", len(captured.splitlines()))
print("level", tf.get_logger().level)
"""


def test_startup_messages_are_captured_unless_the_user_sets_the_log_level():
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    quiet = subprocess.run([sys.executable, "-c", STARTUP_SCRIPT], capture_output=True, text=True,
                           env=env, timeout=120)
    assert quiet.returncode == 0, quiet.stderr[-2000:]
    assert quiet.stderr == ""  # nothing of TensorFlow's start-up reaches the terminal
    assert "level 30" in quiet.stdout  # TensorFlow's Python logger: WARNING and up
    # A parent program's (or the user's) level 2 still captures the lines TensorFlow
    # prints at start-up whatever the level.
    child = subprocess.run([sys.executable, "-c", STARTUP_SCRIPT], capture_output=True,
                           text=True, env=dict(env, TF_CPP_MIN_LOG_LEVEL="2"), timeout=120)
    assert child.returncode == 0 and child.stderr == "", child.stderr[-2000:]
    loud = subprocess.run([sys.executable, "-c", STARTUP_SCRIPT], capture_output=True, text=True,
                          env=dict(env, TF_CPP_MIN_LOG_LEVEL="0"), timeout=120)
    assert loud.returncode == 0 and "captured 0" in loud.stdout
    assert "level 30" not in loud.stdout


def test_help_imports_no_tensorflow():
    # --help must answer at once: no program imports TensorFlow before its flags parse.
    for target in _scripts().values():
        module, function = target.split(":")
        script = ("import atexit, sys\n"
                  "atexit.register(lambda: print('tensorflow' in sys.modules))\n"
                  f"sys.argv = ['{module}', '--help']\n"
                  f"import {module} as program\n"
                  f"program.{function}()\n")
        res = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                             timeout=120)
        assert res.returncode == 0, (module, res.stderr[-2000:])
        assert res.stdout.strip().splitlines()[-1] == "False", module


GUARDED = """
import errno, sys
from official.utils.misc import cli

def main(argv):
    kind = argv[1]
    if kind == "bug":
        {}["missing"]
    if kind == "full":
        raise OSError(errno.ENOSPC, "No space left on device", "/data/out.csv")
    if kind == "readonly":
        raise PermissionError(errno.EROFS, "Read-only file system", "/ro/model")
    print("fine")

sys.argv[0] = "guarded"
cli.run(main, tensorflow=False)
"""


def test_every_failure_ends_in_one_line_and_bugs_leave_a_log(tmp_path):
    env = dict(os.environ, TMPDIR=str(tmp_path))
    for kind, expected in (("full", "error: /data/out.csv: No space left on device"),
                           ("readonly", "error: /ro/model: Read-only file system")):
        res = subprocess.run([sys.executable, "-c", GUARDED, kind], capture_output=True,
                             text=True, env=env, timeout=120)
        assert res.returncode == 1 and res.stderr.strip().splitlines()[-1] == expected
    bug = subprocess.run([sys.executable, "-c", GUARDED, "bug"], capture_output=True,
                         text=True, env=env, timeout=120)
    last = bug.stderr.strip().splitlines()[-1]
    assert bug.returncode == 1 and "Traceback" not in bug.stderr
    assert last.startswith("error: unexpected KeyError: 'missing' (traceback in ")
    log = last.split("traceback in ", 1)[1].split(";", 1)[0]
    assert log.startswith(str(tmp_path)) and "Traceback" in pathlib.Path(log).read_text()
