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
