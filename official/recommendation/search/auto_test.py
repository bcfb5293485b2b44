"""`ncf_main --model auto` end to end: planted structure, no test data in the search,
the report's numbers (real runs; resuming and sharing a study: study_sharing_test.py)."""

import json
import re
import subprocess
import sys
import time

import numpy as np
import pytest
from absl import flags

from official.recommendation import ncf_flags, ncf_main, recommend, report
from official.recommendation.search import auto
from official.recommendation.search.conftest import auto_flags, ncf_main_process, write_pairs_log
from official.recommendation.training import task as task_lib
from official.utils.errors import UserError
from official.utils.flags import core as flags_core

pytestmark = pytest.mark.slow


def parse(argv):
    fv = flags.FlagValues()
    ncf_flags.define_ncf_flags(fv)
    fv(["ncf_main", *argv])
    return fv


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("planted")
    log = write_pairs_log(tmp / "pairs.csv")
    model_dir = tmp / "run"
    fv = parse(auto_flags(tmp, log, f"--model_dir={model_dir}", "--max_trials=4",
                          "--auto_models=popularity,ease,mf", "--report"))
    result = ncf_main.run_from_flags(fv)
    report.write_for_run(str(model_dir))
    return tmp, log, model_dir, result


def test_auto_picks_the_family_that_fits_the_planted_structure(planted):
    _, _, model_dir, result = planted
    search = json.loads((model_dir / "search.json").read_text())
    best = {}
    for t in search["trials"]:
        best[t["model"]] = max(best.get(t["model"], 0.0), t["value"] or 0.0)
    assert result["model"] == "ease"
    assert result["selection_metric"] == "NDCG@10"  # own data: full-ranking NDCG
    assert best["ease"] > 0.5 > 0.2 > best["popularity"]
    assert best["ease"] > best["mf"]
    assert result["validation_NDCG_full"] == pytest.approx(best["ease"])
    # The winner was tested once, after selection, refitted on train + validation.
    assert result["NDCG_full"] > 0.5 and result["retrained_epochs"] == 1
    assert [t["model"] for t in search["trials"]][:3] == ["popularity", "ease", "mf"]
    assert len(search["trials"]) == result["trials"] == 4
    # The export serves like any: a new user who played i40 gets its partner i41 first.
    export = recommend.load_export(result["export_dir"])
    top = recommend.recommend_for_history(export, np.array(["i40"]), 3)
    assert top["item_id"][0][0] == "i41" and not top["fallback"]


def test_the_search_holds_no_test_pair(planted):
    tmp, log, model_dir, _ = planted
    fv = parse(auto_flags(tmp, log, f"--model_dir={tmp / 'other'}"))
    values = fv.flag_values_dict()
    values["model_dir"] = str(tmp / "other")
    search = auto.Search(values, flags_core.given(fv), auto.budget_lib.Budget(60))
    full = task_lib.load_data(ncf_flags.configs(parse(auto_flags(
        tmp, log, "--model=ease", f"--model_dir={tmp / 'x'}")))[0].data)
    test = set(zip(full.eval_users.tolist(), full.eval_items[:, 0].tolist(), strict=True))
    d = search.data
    seen = set(zip(d.train_users.tolist(), d.train_items.tolist(), strict=True))
    held = set(zip(d.eval_users.tolist(), d.eval_items[:, 0].tolist(), strict=True))
    assert len(test) == 300 and not test & seen and not test & held
    assert len(held) == 300 and len(seen) == 300 * 8 - 600


def _cells(page, row_label):
    row = re.search(rf"<tr class='[a-z]*' data-label='{row_label}'>(.*?)</tr>", page).group(1)
    return [float(v) for v in re.findall(r"data-value='([^']+)'", row)]


def test_the_report_holds_the_numbers_of_eval_results(planted):
    _, _, model_dir, result = planted
    page = (model_dir / "report.html").read_text()
    winner = f"trial {result['winner_trial']}"
    assert f"<tr class='winner' data-label='{winner}'>" in page
    value, hr, ndcg = _cells(page, winner)[:3]
    assert value == ndcg == result["validation_NDCG_full"]
    assert hr == result["validation_HR_full"]
    test = re.search(r"<table class='test'[^>]*>(.*?)</table>", page).group(1)
    names = re.findall(r"<th>([^<]+)</th>", test)
    values = [float(v) for v in re.findall(r"data-value='([^']+)'", test)]
    assert dict(zip(names, values, strict=True)) == {
        k: result[k] for k in ("HR_full", "NDCG_full", "Coverage_full",
                               "PopularityPercentile_full")}
    for name in ("validation_by_epoch", "validation_by_time"):
        png = model_dir / "report_files" / f"{name}.png"
        head = png.read_bytes()[:24]
        assert head[:8] == b"\x89PNG\r\n\x1a\n"
        assert int.from_bytes(head[16:20], "big") == 800  # 8 in x 100 dpi
        assert f"src='report_files/{name}.png'" in page


def test_report_puts_runs_side_by_side_and_refuses_an_unfinished_dir(planted, tmp_path):
    tmp, _, model_dir, result = planted
    output = tmp_path / "page.html"
    proc = subprocess.run([sys.executable, "-m", "official.recommendation.report",
                           f"--model_dirs={model_dir},{model_dir}", f"--output={output}"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    page = output.read_text()
    assert page.count("<tr class='winner'") == 2
    assert (tmp_path / "page_files" / "validation_by_epoch.png").exists()
    proc = subprocess.run([sys.executable, "-m", "official.recommendation.report",
                           f"--model_dirs={tmp_path}", f"--output={tmp_path / 'no.html'}"],
                          capture_output=True, text=True)
    assert proc.returncode != 0
    assert proc.stderr.strip().splitlines()[-1].startswith("error:")
    assert "no eval_results.json" in proc.stderr and not (tmp_path / "no.html").exists()


def test_a_plain_run_writes_its_report_with_its_curve(planted, tmp_path):
    tmp, log, _, _ = planted
    model_dir = tmp_path / "mf"
    args = [a for a in auto_flags(tmp, log, f"--model_dir={model_dir}") if a != "--model=auto"]
    proc = ncf_main_process([*args, "--model=mf", "--train_epochs=3", "--report",
                             "--num_factors=8"])
    out, err = proc.communicate()
    assert proc.returncode == 0, err
    assert f"report: {model_dir / 'report.html'}" in out
    result = json.loads((model_dir / "eval_results.json").read_text())
    cycles = json.loads((model_dir / "history.json").read_text())["cycles"]
    assert [c["epoch"] for c in cycles] == [1, 2, 3]
    page = (model_dir / "report.html").read_text()
    value, hr, ndcg = _cells(page, "mf")[:3]
    # --selection_metric defaults to HR outside --model auto.
    assert value == hr == result["validation_HR_full"] == max(c["validation_HR_full"]
                                                              for c in cycles)
    assert ndcg == result["validation_NDCG_full"]


def test_the_budget_counts_from_the_commands_start_and_a_spent_one_runs_nothing(planted,
                                                                                 tmp_path):
    tmp, log, _, _ = planted
    fv = parse(auto_flags(tmp, log, f"--model_dir={tmp_path / 'late'}", "--time_budget=60"))
    values = fv.flag_values_dict()
    values["model_dir"] = str(tmp_path / "late")
    # A command whose process started 100 s ago has spent its 60 s before any trial.
    with pytest.raises(UserError, match="no trial finished within --time_budget 60 s"):
        auto.run(values, flags_core.given(fv), started=time.monotonic() - 100)
    assert not (tmp_path / "late").exists()  # nothing of the failed run is left
