import numpy as np

from official.utils.misc import memory


def test_peak_rss_grows_with_allocation():
    before = memory.peak_rss_mb()
    block = np.ones(300 * 2**20 // 8)  # 300 MiB touched.
    after = memory.peak_rss_mb()
    assert block.sum() > 0
    assert after - before > 250
