"""Content checksums of the files a later run may trust (CRC-32C, streamed).

Every artifact a later run reuses (normalized CSVs, the NCF cache, buffers,
cleaned census files, exports) records `{"bytes", "crc32c"}` of each of its
files in a manifest written last; `first_mismatch` says which file no longer
matches. CRC-32C runs at several GB/s (hardware instructions, google-crc32c),
so checking costs about a read of the files (see README, "Failure
behaviour", for the measured cost at ml-20m scale).
"""

import os
from collections.abc import Iterable

import google_crc32c

CHUNK_BYTES = 8 << 20


def crc32c_of(path: str) -> str:
    """Hex CRC-32C of a file's content."""
    checksum = google_crc32c.Checksum()
    with open(path, "rb") as f:
        while block := f.read(CHUNK_BYTES):
            checksum.update(block)
    return checksum.hexdigest().decode()


def describe(directory: str, names: Iterable[str]) -> dict[str, dict]:
    """`{name: {"bytes", "crc32c"}}` of files `names` (relative to `directory`)."""
    out = {}
    for name in names:
        path = os.path.join(directory, name)
        out[name] = {"bytes": os.path.getsize(path), "crc32c": crc32c_of(path)}
    return out


def first_mismatch(directory: str, recorded: dict[str, dict]) -> str | None:
    """The first recorded file that is missing or differs in size or content, else None.

    Args:
      directory: where the files are.
      recorded: as `describe` returned when they were written.

    Returns:
      A file name with what is wrong ("ratings.csv (content changed)"), or None.
    """
    if not isinstance(recorded, dict) or not recorded:
        return "(no checksums recorded)"
    for name, info in recorded.items():
        path = os.path.join(directory, name)
        if not isinstance(info, dict) or not os.path.isfile(path):
            return f"{name} (missing)"
        if os.path.getsize(path) != info.get("bytes"):
            return f"{name} (size changed)"
        if crc32c_of(path) != info.get("crc32c"):
            return f"{name} (content changed)"
    return None


def intact_meta(directory: str, version: int, what: str) -> dict | None:
    """`directory`'s meta.json if it has `version` and its recorded files are intact, else None.

    A cache's check before it is read (`what` names it in the warning that
    says why it will be rebuilt).
    """
    from absl import logging

    from official.utils.misc import atomic_io

    meta = atomic_io.read_json(os.path.join(directory, "meta.json"))
    if not isinstance(meta, dict) or meta.get("version") != version:
        logging.warning("%s %s has no valid meta.json; rebuilding it", what, directory)
        return None
    damage = first_mismatch(directory, meta.get("files"))
    if damage:
        logging.warning("%s %s: %s; rebuilding it", what, directory, damage)
        return None
    return meta
