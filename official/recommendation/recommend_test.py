"""`recommend` on a tiny trained and exported NCF model (real TensorFlow, real files)."""

import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import tensorflow as tf

from official.datasets import movielens
from official.recommendation import recommend
from official.recommendation.conftest import train_export

# Starts processes or clusters, or trains real models for a while: not in make test-fast.
pytestmark = pytest.mark.slow

@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    return train_export(tmp_path_factory.mktemp("rec"))


# The other kinds of scorer an export serves: iALS factors, EASE's B and histories.
SOLVER_FLAGS = {"ials": ["--model=ials", "--ials_iterations=2"],
                "ease": ["--model=ease", "--ease_lambda=50"]}


@pytest.fixture(scope="module", params=list(SOLVER_FLAGS))
def solver_trained(tmp_path_factory, request):
    return train_export(tmp_path_factory.mktemp(request.param), *SOLVER_FLAGS[request.param])


def _rated(tmp, user):
    ratings = movielens.ratings_csv_to_dataframe(str(tmp / "data"), "synthetic")
    return set(ratings.loc[ratings[movielens.USER_COLUMN] == user,
                           movielens.ITEM_COLUMN].tolist())


def test_top_k_unseen_items_in_model_order_with_titles(trained):
    _check_top_k(*trained)


def test_ials_and_ease_exports_recommend_in_model_order(solver_trained):
    _check_top_k(*solver_trained)


def _check_top_k(tmp, data):
    export = recommend.load_export(str(tmp / "export"))
    users = np.array([data.user_ids[5], data.user_ids[0]], np.int64)
    out = recommend.recommend(export, users, 7)
    again = recommend.recommend(export, users, 7)
    for name in ("item_id", "score", "title"):
        np.testing.assert_array_equal(out[name], again[name])  # deterministic
    movies = movielens.movies_csv_to_dataframe(str(tmp / "data"), "synthetic").set_index(
        movielens.ITEM_COLUMN)
    for row, user in enumerate(users.tolist()):
        rated = _rated(tmp, user)
        assert out["rated"][row] == len(rated)
        # Oracle: score every unrated item through serving_default and sort.
        candidates = np.array(sorted(set(data.item_ids.tolist()) - rated), np.int64)
        scores = export.serving_default(user_id=tf.constant(np.full(len(candidates), user)),
                              item_id=tf.constant(candidates))["logit"].numpy()
        best = candidates[np.argsort(-scores, kind="stable")[:7]]
        assert out["item_id"][row].tolist() == best.tolist()
        assert not set(out["item_id"][row].tolist()) & rated
        np.testing.assert_allclose(out["score"][row], np.sort(scores)[::-1][:7], rtol=1e-5)
        assert out["title"][row].tolist() == movies.loc[best, movielens.TITLE_COLUMN].tolist()
        assert out["genres"][row].tolist() == movies.loc[best, movielens.GENRE_COLUMN].tolist()


def _cli(*args):
    return _cli_all([args])[0]


def _cli_all(arg_lists):
    """Runs `recommend` once per argument list, all at once; the finished processes."""
    procs = [subprocess.Popen([sys.executable, "-m", "official.recommendation.recommend", *a],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3"))
             for a in arg_lists]
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=180)
        results.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return results


def test_cli_text_json_and_batch(trained, tmp_path):
    tmp, data = trained
    user = int(data.user_ids[3])
    text = _cli(f"--export_dir={tmp / 'export'}", f"--user_id={user}", "--top_k=3")
    assert text.returncode == 0, text.stderr[-2000:]
    lines = text.stdout.strip().splitlines()
    assert lines[0] == (f"user {user}: top 3 of {data.num_items} movies "
                        f"(rated: {len(_rated(tmp, user))})")
    assert len(lines) == 4 and lines[1].startswith("   1. ")
    ids = tmp_path / "users.txt"
    batch_users = [int(data.user_ids[3]), int(data.user_ids[10]), int(data.user_ids[3])]
    ids.write_text("\n".join(map(str, batch_users)) + "\n")
    js = _cli(f"--export_dir={tmp / 'export'}", f"--user_ids_file={ids}", "--top_k=4",
              "--output_format=json")
    assert js.returncode == 0, js.stderr[-2000:]
    records = [json.loads(line) for line in js.stdout.strip().splitlines()]
    assert [r["user_id"] for r in records] == batch_users
    assert records[0] == records[2]
    assert all(len(r["recommendations"]) == 4 for r in records)
    first = records[0]["recommendations"][0]
    assert f"{first['title']}  [{'|'.join(first['genres'])}]  item {first['item_id']}" in lines[1]


def test_titles_from_a_data_dir(trained):
    tmp, data = trained
    export = recommend.load_export(str(tmp / "export"))
    out = recommend.recommend(export, np.array([data.user_ids[1]]), 3)
    titles, _ = recommend.titles_from_dataset(str(tmp / "data"), "synthetic", out["item_id"])
    np.testing.assert_array_equal(titles, out["title"])


def test_bad_inputs_are_one_clear_line(trained, tmp_path):
    tmp, data = trained
    (tmp_path / "bad.txt").write_text(f"{data.user_ids[0]}\n12x\n")
    unknown = int(data.user_ids.max()) + 1000
    cases = [
        ([f"--export_dir={tmp / 'export'}", f"--user_id={unknown}"],
         f"error: unknown user_id {unknown} (not in the model's training data"),
        ([f"--export_dir={tmp / 'export'}", f"--user_id={unknown}"],
         "; for a new user pass the items they rated: --rated ID,ID,..."),
        ([f"--export_dir={tmp_path / 'none'}", "--user_id=1"],
         f"error: --export_dir {tmp_path / 'none'}: no SavedModel there"),
        ([f"--export_dir={tmp / 'export'}", "--user_id=1", "--top_k=0"], "--top_k"),
        ([f"--export_dir={tmp / 'export'}"], "give exactly one of --user_id, --user_ids_file"),
        ([f"--export_dir={tmp / 'export'}", f"--user_ids_file={tmp_path / 'bad.txt'}"],
         "'12x' (id number 2) is not an integer user id"),
        ([f"--export_dir={tmp / 'model'}", "--user_id=1"], "no SavedModel there"),
    ]
    for (args, message), res in zip(cases, _cli_all([a for a, _ in cases]), strict=True):
        assert res.returncode == 1, (args, res.stdout)
        assert message in res.stderr, (args, res.stderr[-2000:])
        assert "Traceback" not in res.stderr
        assert res.stdout == ""
        assert res.stderr.strip().splitlines()[-1].startswith("error: ")


def test_k_beyond_the_unrated_items_returns_only_unrated(trained):
    tmp, data = trained
    export = recommend.load_export(str(tmp / "export"))
    user = data.user_ids[2]
    out = recommend.recommend(export, np.array([user]), 10_000)
    finite = np.isfinite(out["score"][0])
    assert out["item_id"].shape[1] == data.num_items  # k capped at the catalogue
    assert finite.sum() == data.num_items - len(_rated(tmp, user))
    assert not set(out["item_id"][0][finite].tolist()) & _rated(tmp, user)
    assert pd.Series(out["item_id"][0]).is_unique


def test_cli_new_user_from_rated_ids_and_from_a_history_file(trained, tmp_path):
    tmp, data = trained
    history = [int(i) for i in data.item_ids[[2, 7, 11]]]
    rated = ",".join(map(str, [*history, 999_999]))
    text = _cli(f"--export_dir={tmp / 'export'}", f"--rated={rated}", "--top_k=4")
    assert text.returncode == 0, text.stderr[-2000:]
    lines = text.stdout.strip().splitlines()
    assert lines[0] == (f"new user: top 4 of {data.num_items} movies (rated: 3 known; "
                        "unknown ids: 999999)")
    csv = tmp_path / "me.csv"
    csv.write_text("userId,movieId,rating\n" + "".join(f"1,{i},4\n" for i in history))
    js = _cli(f"--export_dir={tmp / 'export'}", f"--history_file={csv}", "--top_k=4",
              "--output_format=json")
    assert js.returncode == 0, js.stderr[-2000:]
    record = json.loads(js.stdout)
    assert record["history"] == history and record["fallback"] is False
    ids = [r["item_id"] for r in record["recommendations"]]
    # The CLI shows what the export's fold-in answers, and never the history.
    export = recommend.load_export(str(tmp / "export"))
    direct = export.recommend_for_history(item_id=tf.constant(history, tf.int64),
                                          k=tf.constant(4))
    assert ids == direct["item_id"].numpy().tolist() and not set(ids) & set(history)
    assert all(f"item {i}" in line for i, line in zip(ids, lines[1:], strict=True))
    # No known id: the popularity fallback, marked (the export's answer: ncf_fold_in_test).
    out = recommend.recommend_for_history(export, np.array([999_999]), 2)
    text = recommend.format_results(None, out, out["num_items"], "text", np.array([999_999]))
    assert text.splitlines()[0].endswith("(popularity fallback)")


def test_cli_bad_histories_are_one_line(trained, tmp_path):
    tmp, _ = trained
    no_column = tmp_path / "bad.csv"
    no_column.write_text("user,film\n1,2\n")
    bad_id = tmp_path / "bad_id.csv"
    bad_id.write_text("item_id\n5\nfive\n")
    cases = [(["--rated=1,x"], "is not one"),
             ([f"--history_file={no_column}"], "no item_id or movieId column"),
             ([f"--history_file={bad_id}"], "line 3: 'five' is not an integer movie id"),
             ([f"--history_file={tmp_path / 'none.csv'}"], "none.csv"),
             (["--rated=1", "--user_id=1"], "give exactly one of")]
    runs = _cli_all([[f"--export_dir={tmp / 'export'}", *a] for a, _ in cases])
    for (args, message), res in zip(cases, runs, strict=True):
        assert res.returncode != 0 and message in res.stderr, (args, res.stderr[-1500:])
        assert "Traceback" not in res.stderr


def test_ids_that_are_not_decimal_int64_name_the_flag_and_the_value(tmp_path):
    from official.utils.errors import UserError

    for text, bad in (("99999999999999999999,12", "99999999999999999999"), ("²,12", "²"),
                      ("--5", "--5"), ("١٢", "١٢")):
        with pytest.raises(UserError) as error:
            recommend.parse_rated(text)
        assert str(error.value) == (f"--rated {text!r}: give comma-separated movie ids (ids "
                                    f"are decimal integers that fit in 64 bits); {bad!r} is "
                                    "not one")
    assert recommend.parse_rated(" 7, -9223372036854775808,+3").tolist() == [
        7, -(2 ** 63), 3]
    ids = tmp_path / "ids.txt"
    ids.write_text("5\n9223372036854775808\n")
    with pytest.raises(UserError, match=r"'9223372036854775808' \(id number 2\) is not an "
                                        "integer user id"):
        recommend.read_user_ids(str(ids))
    res = _cli("--export_dir=unused", "--user_id=99999999999999999999")
    assert res.returncode == 1 and res.stderr.splitlines() == [
        "error: flag --user_id=99999999999999999999: --user_id: ids are decimal integers that "
        "fit in 64 bits (--help lists the flags)"]
