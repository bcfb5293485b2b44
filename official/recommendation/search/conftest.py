"""Helpers shared by the search's test files: a log with planted structure, auto's flags."""

import subprocess
import sys

import numpy as np
import pandas as pd


def write_pairs_log(path, users=300, pairs=100, per_user=4, seed=0):
    """Writes a log whose items come in pairs: a user who has item 2k also has 2k + 1.

    Item-item co-occurrence (what EASE fits exactly) predicts every held-out
    item whose partner was trained on; popularity is flat, so it cannot.
    Returns `path` (CSV: user, item, time; `users` * 2 * `per_user` rows).
    """
    rng = np.random.default_rng(seed)
    chosen = rng.random((users, pairs)).argsort(axis=1)[:, :per_user]  # distinct pairs
    items = np.stack([2 * chosen, 2 * chosen + 1], axis=-1).reshape(-1)
    user = np.repeat(np.arange(users), 2 * per_user)
    pd.DataFrame({"user": np.char.add("u", user.astype(str)),
                  "item": np.char.add("i", items.astype(str)),
                  "time": rng.permutation(user.size)}).to_csv(path, index=False)
    return path


def auto_flags(tmp, log, *args):
    """ncf_main's flags for `--model auto` on the pairs log `log`, data cached under `tmp`."""
    return [f"--interactions={log}", "--user_column=user", "--item_column=item",
            "--timestamp_column=time", f"--data_dir={tmp / 'data'}", "--hooks=",
            "--model=auto", "--time_budget=600", *args]


def ncf_main_process(args):
    """ncf_main with `args` as its own process (stdout and stderr piped)."""
    return subprocess.Popen([sys.executable, "-m", "official.recommendation.ncf_main", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


