import importlib
import pathlib
import re
import subprocess
import sys
import tomllib

ROOT = pathlib.Path(__file__).resolve().parents[3]


def _scripts() -> dict[str, str]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]


def test_console_scripts_are_the_readme_commands():
    readme = (ROOT / "README.md").read_text()
    table = readme.split("| command | job |")[1].split("\n\n")[0]
    commands = set(re.findall(r"`python -m (official[\w.]+)`", table))
    scripts = _scripts()
    assert len(commands) == 6
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
