"""Peak resident memory of the current process."""

import resource


def peak_rss_mb() -> float:
    """Peak resident set size of this process image, in MiB.

    Reads `VmHWM` from /proc/self/status (Linux): unlike `ru_maxrss`, it is not
    inherited from the parent across fork + exec, so a fresh child measures
    only itself. Falls back to `ru_maxrss` elsewhere.
    """
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak_rss() -> bool:
    """Resets the peak that `peak_rss_mb` reports to the current resident size.

    Writes "5" to /proc/self/clear_refs (Linux 4.0+), so that a later
    `peak_rss_mb` measures only what follows. Returns False where that is not
    possible (the peak then still covers the whole process).
    """
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False
