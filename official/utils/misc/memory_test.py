import subprocess
import sys

SCRIPT = """
import numpy as np
from official.utils.misc import memory
before = memory.peak_rss_mb()
block = np.ones(300 * 2**20 // 8)  # 300 MiB touched
print(before, memory.peak_rss_mb(), block.sum() > 0)
"""


def test_peak_rss_grows_with_allocation():
    # A fresh process, so earlier tests' allocations do not hide the growth.
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         check=True).stdout.split()
    before, after = float(out[0]), float(out[1])
    assert out[2] == "True"
    assert 250 < after - before < 400


RESET_SCRIPT = """
import numpy as np
from official.utils.misc import memory
block = np.ones(300 * 2**20 // 8)  # 300 MiB touched, then freed
high = memory.peak_rss_mb()
del block
print(high, memory.reset_peak_rss(), memory.peak_rss_mb())
"""


def test_reset_peak_rss_forgets_freed_memory():
    out = subprocess.run([sys.executable, "-c", RESET_SCRIPT], capture_output=True, text=True,
                         check=True).stdout.split()
    high, supported, after = float(out[0]), out[1], float(out[2])
    assert supported == "True"  # Linux, as in CI
    assert high - after > 250
