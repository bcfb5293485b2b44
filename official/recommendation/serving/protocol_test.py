"""TF Serving request / response shapes and /recommend bodies, without a server."""

import numpy as np
import pytest

from official.recommendation.serving import protocol as p

SPECS = {"user_id": ("int64", (None,)), "item_id": ("int64", (None,))}


def test_row_and_columnar_requests_give_the_same_arrays():
    rows, is_rows = p.predict_inputs({"instances": [{"user_id": 1, "item_id": 5},
                                                    {"user_id": 2, "item_id": 6}]}, SPECS)
    cols, is_cols = p.predict_inputs({"inputs": {"user_id": [1, 2], "item_id": [5, 6]}}, SPECS)
    assert is_rows and not is_cols
    for name in SPECS:
        np.testing.assert_array_equal(rows[name], cols[name])
        assert rows[name].dtype == np.int64
    single, _ = p.predict_inputs({"instances": ["a", "b"]}, {"inputs": ("string", (None,))})
    assert single["inputs"].tolist() == ["a", "b"]
    genres, _ = p.predict_inputs({"inputs": [[0.5, 1.0]]}, {"g": ("float32", (None, 2))})
    assert genres["g"].dtype == np.float32 and genres["g"].shape == (1, 2)


@pytest.mark.parametrize("body, message", [
    ([1, 2], "must be a JSON object"),
    ({"instances": []}, "non-empty list"),
    ({"instances": [{"user_id": 1}]}, "'item_id' is missing"),
    ({"instances": [{"user_id": 1, "item_id": 2, "x": 3}]}, "unknown input 'x'"),
    ({"inputs": {"user_id": [True], "item_id": [1]}}, "must hold int64"),
    ({"inputs": {"user_id": [2 ** 63], "item_id": [1]}}, "must hold int64"),
    ({"inputs": {"user_id": [[1]], "item_id": [1]}}, "must have shape [N]"),
    ({"inputs": {"user_id": [1]}}, "'item_id' is missing"),
    ({"instances": [{"user_id": 1, "item_id": 1}] * (p.MAX_INSTANCES + 1)}, "at most"),
])
def test_bad_predict_bodies_name_the_problem(body, message):
    with pytest.raises(p.RequestError, match=message.replace("[", r"\[")):
        p.predict_inputs(body, SPECS)


def test_responses_follow_tf_serving():
    out = {"score": np.array([0.5, -np.inf], np.float32), "title": np.array([b"A", b"B"])}
    assert p.predict_response(out, row_format=True) == {
        "predictions": [{"score": 0.5, "title": "A"}, {"score": None, "title": "B"}]}
    assert p.predict_response(out, row_format=False) == {
        "outputs": {"score": [0.5, None], "title": ["A", "B"]}}
    assert p.predict_response({"y": np.array([1, 2])}, True) == {"predictions": [1, 2]}


def test_recommend_bodies_and_k():
    ids, k = p.history_of({"history": [3, {"item_id": 7, "rating": 5}], "k": 4})
    assert ids.tolist() == [3, 7] and k == 4
    assert p.positive_k("5", 100) == 5
    for bad in (0, -1, "x", 1.5, True, 101):
        with pytest.raises(p.RequestError, match="k must be an integer from 1 to 100"):
            p.positive_k(bad, 100)
    for body, message in (({"k": 3}, '"history"'), ({"history": [1], "user": 2}, "unknown field"),
                          ({"history": [{"rating": 5}]}, "int64")):
        with pytest.raises(p.RequestError, match=message):
            p.history_of(body)


def test_one_recommendation_shape_for_cli_and_server():
    out = p.recommendation_list(np.array([260, 1196], np.int64),
                                       np.array([b"Star Wars (1977)", b"Empire (1980)"]),
                                       np.array([b"Action|Sci-Fi", b""]),
                                       np.array([4.12345678, 3.5], np.float32))
    assert out == [{"rank": 1, "item_id": 260, "title": "Star Wars (1977)",
                    "genres": ["Action", "Sci-Fi"], "score": 4.123457},
                   {"rank": 2, "item_id": 1196, "title": "Empire (1980)", "genres": [],
                    "score": 3.5}]
    text_ids = p.recommendation_list([b"artist a", "b"], ["A", "B"], ["", ""], [1.0, 0.5])
    assert [r["item_id"] for r in text_ids] == ["artist a", "b"]
