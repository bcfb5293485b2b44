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


REUSE_SCRIPT = """
import ctypes, resource, sys
from official.utils.misc import memory
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
if sys.argv[1] == "keep":
    assert memory.keep_freed_memory()
size, faults = 64 * 2**20, []
for _ in range(3):  # a 64 MiB block allocated, touched and freed, as a solver step does
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(size)  # plain malloc, as TensorFlow's CPU allocator
    ctypes.memset(block, 1, size)
    libc.free(block)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(faults[-1], memory.current_rss_mb())
"""


def test_kept_memory_reuses_a_freed_block_without_new_page_faults():
    runs = {mode: subprocess.run([sys.executable, "-c", REUSE_SCRIPT, mode],
                                 capture_output=True, text=True, check=True).stdout.split()
            for mode in ("default", "keep")}
    # By default glibc maps fresh pages for each 64 MiB block: one fault per 4 KiB page.
    assert int(runs["default"][0]) > 10_000
    assert int(runs["keep"][0]) < 1_000  # the freed block is reused
    assert float(runs["keep"][1]) > 64  # and stays resident: current_rss_mb counts it
