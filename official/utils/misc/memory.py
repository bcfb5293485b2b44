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
