from official.datasets import movielens
from official.datasets.movielens_synthetic import SyntheticSpec
from official.recommendation.benchmarks import solver_benchmark


def test_fit_and_rank_reports_both_models_on_tiny_data(tmp_path):
    data_dir = str(tmp_path / "data")
    movielens.download(movielens.SYNTHETIC, data_dir,
                       synthetic=SyntheticSpec(300, 200, 15_000, seed=1))
    ials = solver_benchmark._fit_and_rank(data_dir, "ials", 8, 3, 100)
    ease = solver_benchmark._fit_and_rank(data_dir, "ease", 8, 3, 100)
    for out in (ials, ease):
        assert out["users"] == 300 and out["full_rank_users"] == 100
        assert out["fit_s"] > 0 and out["full_rank_s"] > 0
        # Synthetic users have taste: far better than a random item among ~150 unseen.
        assert out["HR_full"] > 5 * 10 / 150, out
    assert ials["sweeps"] == 3 and 0 < ials["sweep_s"] <= ials["fit_s"]
