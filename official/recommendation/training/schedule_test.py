import math

import numpy as np
import pytest

from official.recommendation.training.schedule import WarmupCosine


def test_warmup_then_cosine_known_values():
    s = WarmupCosine(0.004, warmup_steps=10, total_steps=110, kind="cosine",
                     final_fraction=0.1)
    values = [float(s(step)) for step in (0, 4, 9, 10, 60, 110, 500)]
    half = 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * 0.5))
    expected = [0.0004, 0.002, 0.004, 0.004, 0.004 * half, 0.0004, 0.0004]
    np.testing.assert_allclose(values, expected, rtol=1e-5)


def test_constant_and_bad_arguments():
    s = WarmupCosine(0.01, warmup_steps=0, total_steps=5)
    assert [float(s(i)) for i in (0, 3, 99)] == pytest.approx([0.01] * 3)
    assert WarmupCosine(**s.get_config()).get_config() == s.get_config()
    with pytest.raises(ValueError, match="kind must be one of"):
        WarmupCosine(0.01, 0, 5, kind="step")
    with pytest.raises(ValueError, match="warmup_steps >= 0"):
        WarmupCosine(0.01, -1, 5)
