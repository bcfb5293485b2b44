"""The ensemble program end to end: weights from validation only, one export that serves."""

import json
import os

import numpy as np
import pytest
from absl import flags

from official.recommendation import ensemble, recommend
from official.recommendation.benchmarks.ncf_time_to_accuracy_test import write_split
from official.utils.errors import UserError
from official.utils.flags import core as flags_core

pytestmark = pytest.mark.slow


def run(argv):
    fv = flags.FlagValues()
    ensemble.define_flags(fv)
    fv(["ensemble", *argv])
    values = fv.flag_values_dict()
    return ensemble.run(values, flags_core.given(fv), list(fv.members), fv.fusion_step)


def test_weights_come_from_validation_and_the_export_serves_the_fused_model(tmp_path):
    prefix = str(tmp_path / "split")
    write_split(prefix, num_users=80, num_items=60)
    common = [f"--ncf_split={prefix}", "--members=ials,ease", "--num_factors=8",
              "--ials_iterations=3", "--fusion_step=0.25", "--num_eval_negatives=20"]
    with_test = run([*common, f"--model_dir={tmp_path}/a", f"--export_dir={tmp_path}/e"])
    # Without the test files (nor reading them) the same weights are chosen.
    for suffix in (".test.rating", ".test.negative"):
        os.remove(prefix + suffix)
    blind = run([*common, "--noevaluate_test", f"--model_dir={tmp_path}/b"])
    assert blind["weights"] == with_test["weights"] and "HR" not in blind
    assert blind["grid"] == with_test["grid"] and len(blind["grid"]) == 5
    assert 0 <= with_test["HR"] <= 1 and 0 <= with_test["NDCG"] <= with_test["HR"]
    # The chosen point is the grid's best on validation, the members are its corners.
    best = max(g["HR"] for g in with_test["grid"])
    assert with_test["validation_HR"] == best
    corners = {m: v["validation_HR"] for m, v in with_test["members"].items()}
    assert with_test["validation_gain_over_best_member"] == pytest.approx(
        best - max(corners.values()))
    saved = json.loads((tmp_path / "a" / ensemble.ENSEMBLE_JSON).read_text())
    assert saved["weights"] == with_test["weights"]
    # The export answers `recommend` like any model: k items, none of them rated.
    export = recommend.load_export(str(tmp_path / "e"))
    out = recommend.recommend(export, np.array([0, 5]), 4)
    assert out["item_id"].shape == (2, 4) and np.all(np.diff(out["score"], axis=1) <= 0)
    with open(prefix + ".train.rating") as f:
        rated = {int(line.split("\t")[1]) for line in f if line.startswith("0\t")}
    assert len(rated) == 11 and not rated & set(out["item_id"][0].tolist())


def test_bad_members_are_one_line_errors(tmp_path):
    prefix = str(tmp_path / "split")
    write_split(prefix)
    with pytest.raises(UserError, match="unknown recipe 'nope'"):
        run([f"--ncf_split={prefix}", "--members=ials,nope", f"--model_dir={tmp_path}/m"])
    with pytest.raises(UserError, match="trains in several stages"):
        run([f"--ncf_split={prefix}", "--members=ials,neumf_pretrained",
             f"--model_dir={tmp_path}/m"])
    with pytest.raises(UserError, match="--fusion_step 0.3: the fusion step must divide 1"):
        run([f"--ncf_split={prefix}", "--members=ials,ease", "--fusion_step=0.3",
             f"--model_dir={tmp_path}/m"])
    with pytest.raises(UserError, match="drop --novalidation"):
        run([f"--ncf_split={prefix}", "--members=ials,ease", "--novalidation",
             f"--model_dir={tmp_path}/m"])
