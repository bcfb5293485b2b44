import pytest

from official.recommendation.search import budget as budget_lib


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_budget_keeps_the_reserve_for_the_final_step():
    clock = Clock()
    b = budget_lib.Budget(120, clock=clock)
    assert b.left_for_search() == pytest.approx(120 - budget_lib.FINAL_OVERHEAD_S)
    b.set_reserve(30)
    clock.now += 50
    assert b.left_for_search() == pytest.approx(120 - 50 - 30 - budget_lib.FINAL_OVERHEAD_S)
    assert b.can_start(25) and not b.can_start(26)
    assert b.epoch_fits(25) and not b.epoch_fits(25.5)
    clock.now += 100
    assert not b.can_start(0)  # spent: nothing starts, not even an unknown trial


def test_budget_counts_from_the_given_start():
    clock = Clock()
    b = budget_lib.Budget(60, clock=clock, start=90.0)
    assert b.elapsed() == pytest.approx(10.0)


def test_process_start_is_before_now():
    clock = Clock()
    start = budget_lib.process_start(clock)
    assert 0.0 <= clock.now - start < 3600


def test_trial_estimate_prefers_its_own_family():
    done = [("ials", 10.0), ("ials", 30.0), ("ials", 20.0), ("mf", 100.0)]
    assert budget_lib.trial_estimate(done, "ials") == 20.0
    assert budget_lib.trial_estimate(done, "neumf") == 25.0  # median of all
    assert budget_lib.trial_estimate([], "ials") == 0.0


def test_refit_estimate_scales_the_selected_epochs():
    # 10 epochs in 50 s; refit of 4 epochs: 1.1 * 5 * 4, plus two evaluations of 3 s.
    assert budget_lib.refit_estimate(50.0, 4, 10, 3.0) == pytest.approx(28.0)
