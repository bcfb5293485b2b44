from official.utils.logs import run_summary


def label(name):
    return f"{name}@10" if name in ("HR", "NDCG") else name


def test_a_selected_run_names_the_epoch_the_split_the_test_metrics_and_the_files():
    result = {"HR": 0.64671, "NDCG": 0.44231, "validation_HR": 0.65071, "validation_NDCG": 0.4448,
              "epoch": 3, "selected_epoch": 2, "loss": 0.1, "top_k": 10,
              "eval_protocol": "sampled", "ease_lambda": 500.0}
    assert run_summary.summary_lines(result, "HR", label, "/m/eval_results.json", "/e",
                                     {"ease_lambda": 500.0}) == [
        "selected epoch 2 of 3 (ease_lambda 500) by validation HR@10 (the test split was read "
        "once, after selection)",
        "  validation  HR@10 0.6507  NDCG@10 0.4448",
        "  test        HR@10 0.6467  NDCG@10 0.4423",
        "results: /m/eval_results.json (full precision); export: /e"]


def test_without_validation_or_test_the_summary_says_so():
    assert run_summary.summary_lines({"rmse": 0.9, "epoch": 4, "examples_per_second": 3271492.6},
                                     None, str) == [
        "epoch 4: no validation split, so the last epoch is reported",
        "  test        rmse 0.9000"]
    only_validation = {"validation_rmse": 0.88, "epoch": 5, "selected_epoch": 5}
    assert run_summary.summary_lines(only_validation, "rmse", str)[0] == (
        "selected epoch 5 of 5 by validation rmse (the test split was not read)")


def test_parse_reads_back_what_was_printed():
    lines = run_summary.summary_lines({"HR": 0.64671, "validation_HR": 0.65071, "epoch": 3,
                                       "selected_epoch": 3, "n": 15500.0}, "HR", label)
    assert run_summary.parse("\n".join(["12:00:00 Epoch 3: ...", *lines])) == {
        "validation": {"HR@10": 0.6507}, "test": {"HR@10": 0.6467, "n": 15500.0}}
