"""The Python API trains as the command line does (real TensorFlow, small synthetic data)."""

import json

import pytest

import official.recommendation as rec
from official.recommendation import api
from official.utils.errors import UserError

SMALL = dict(dataset="synthetic", synthetic_users=300, synthetic_items=200,
             synthetic_ratings=12000, seed=1)


def test_train_returns_what_eval_results_holds_and_chooses_on_validation(tmp_path):
    result = rec.train(model="ease", ease_lambda=[50, 5000], data_dir=str(tmp_path / "d"),
                       model_dir=str(tmp_path / "m"), **SMALL)
    saved = json.loads((tmp_path / "m" / "eval_results.json").read_text())
    assert result == saved
    # EASE chooses its lambda on validation; the protocol and K are recorded.
    assert result["ease_lambda"] in (50.0, 5000.0)
    assert result["top_k"] == 10 and result["eval_protocol"] == "sampled"
    assert result["selected_epoch"] == 1 and result["validation_HR"] > result["HR"] * 0.5
    # Popularity on the same split is a floor the chosen model beats on validation.
    floor = rec.train(model="popularity", data_dir=str(tmp_path / "d"),
                      model_dir=str(tmp_path / "p"), **SMALL)
    assert result["validation_HR"] > floor["validation_HR"]


def test_bad_settings_are_the_command_lines_errors():
    with pytest.raises(UserError, match="model"):
        api.parse({"model": "no-such-model"})
    with pytest.raises(UserError, match="nonsense"):
        api.parse({"nonsense": 1})
    assert api.parse({"ease_lambda": [1, 2.5], "validation": False}).ease_lambda == ["1", "2.5"]
