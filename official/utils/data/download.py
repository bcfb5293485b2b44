"""Verified, resumable downloads and safe zip extraction.

`download_file` streams a URL (http, https, file:// or a plain local path) to
`<dest>.part` with a progress bar, retries transient failures with backoff,
resumes a partial `.part` with an HTTP Range request where the server allows
it, runs a caller-supplied verification, and only then renames the file to
`dest`. A `.part` file is never read as data: it exists only to be resumed.
"""

import contextlib
import dataclasses
import hashlib
import http.client
import os
import re
import shutil
import socket
import stat
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
import zlib
from collections.abc import Callable, Iterable

from absl import logging

from official.utils.errors import DataError
from official.utils.logs import progress

CHUNK_BYTES = 1 << 20
_RETRYABLE_HTTP = {408, 425, 429, 500, 502, 503, 504}


class _TransientError(Exception):
    """A failure worth retrying (connection reset, short read, HTTP 503...)."""


class DownloadError(DataError):
    """A URL could not be fetched; `url` and `reason` let a caller say it in its own words.

    Attributes:
      url: what was fetched.
      reason: why it failed ("HTTP 404 Not Found", "connection refused", ...).
      offline: name resolution failed: the machine seems to have no network.
    """

    def __init__(self, url: str, reason: str, offline: bool = False):
        super().__init__(f"{url}: {reason}")
        self.url, self.reason, self.offline = url, reason, offline


def explain_failure(what: str, url: str, error: DownloadError, files: str,
                     offline_choice: str) -> str:
    """The one line for a failed dataset download: what, the data URL, why, and what to do.

    Args:
      what: the dataset ("MovieLens ml-1m").
      url: the data file's URL (not its checksum's).
      error: the failure (of the data file or of its checksum).
      files: what a --data_url folder must hold ("ml-1m.zip", "adult.data and adult.test").
      offline_choice: the flag that needs no download ("--dataset synthetic").
    """
    where = "this machine seems offline" if error.offline else error.reason
    return (f"cannot download {what} from {url} ({where}); put {files} in a folder and pass "
            f"--data_url DIR, or try {offline_choice}")


def _network_reason(error: BaseException) -> tuple[str, bool]:
    """(what went wrong, whether name resolution failed) of a urllib / socket error."""
    reason = getattr(error, "reason", error)
    if isinstance(reason, socket.gaierror):
        return "the host name does not resolve (is this machine offline?)", True
    if isinstance(reason, ConnectionRefusedError):
        return "connection refused", False
    if isinstance(reason, TimeoutError):  # socket.timeout is TimeoutError
        return "timed out", False
    return str(reason), False


def join_url(base: str, name: str) -> str:
    """Joins a base URL or directory and a file name with exactly one `/`."""
    return base.rstrip("/") + "/" + name


def _local_path(url: str) -> str | None:
    """Returns the file system path of a file:// URL or plain path, else None."""
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme == "file":
        return urllib.parse.unquote(parsed.path)
    if parsed.scheme == "":
        return url
    return None


def _progress_bar(total: int | None, initial: int, name: str):
    return progress.bar(total, name, "B", initial=initial, unit_scale=True,
                        unit_divisor=1024)


def _copy_local(src: str, part: str) -> None:
    if not os.path.isfile(src):
        raise DownloadError(src, "file not found")
    total = os.path.getsize(src)
    with open(src, "rb") as fin, open(part, "wb") as fout, \
            _progress_bar(total, 0, os.path.basename(src)) as bar:
        while block := fin.read(CHUNK_BYTES):
            fout.write(block)
            bar.update(len(block))


def _http_attempt(url: str, part: str, timeout_s: float) -> None:
    """One HTTP request that extends `part` towards the full file."""
    offset = os.path.getsize(part) if os.path.exists(part) else 0
    headers = {"User-Agent": "official-recommendation/0.1"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    request = urllib.request.Request(url, headers=headers)
    try:
        response = urllib.request.urlopen(request, timeout=timeout_s)
    except urllib.error.HTTPError as e:
        if e.code == 416 and offset:
            match = re.search(r"/(\d+)", e.headers.get("Content-Range", "") or "")
            if match and int(match.group(1)) == offset:
                return  # The part file is already complete.
            os.unlink(part)
            raise _TransientError("server refused the resume range; restarting") from e
        if e.code in _RETRYABLE_HTTP:
            raise _TransientError(f"HTTP {e.code} {e.reason}") from e
        raise DownloadError(url, f"HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
        reason, offline = _network_reason(e)
        if offline:
            raise DownloadError(url, reason, offline=True) from e
        raise _TransientError(reason) from e

    with response:
        if offset and response.status == 206:
            mode, start = "ab", offset
            logging.info("Resuming %s at byte %d", url, offset)
        else:
            mode, start = "wb", 0
        length = response.headers.get("Content-Length")
        total = start + int(length) if length is not None else None
        got = start
        try:
            with open(part, mode) as f, \
                    _progress_bar(total, start, os.path.basename(part)[:-5]) as bar:
                while block := response.read(CHUNK_BYTES):
                    f.write(block)
                    got += len(block)
                    bar.update(len(block))
        except (OSError, http.client.HTTPException) as e:
            if isinstance(e, OSError) and e.errno in (28, 30, 13):  # ENOSPC, EROFS, EACCES
                raise DataError(f"{part}: cannot write download: {e.strerror}") from e
            raise _TransientError(f"connection lost after {got} bytes ({e!r})") from e
        if total is not None and got < total:
            raise _TransientError(f"connection closed after {got} of {total} bytes")


def download_file(
    url: str,
    dest: str,
    verify: Callable[[str], None] | None = None,
    retries: int = 4,
    backoff_s: float = 0.5,
    timeout_s: float = 60.0,
) -> None:
    """Downloads `url` to `dest` through `<dest>.part`, verified before the rename.

    Args:
      url: http(s) URL, file:// URL or local path.
      dest: final path. Its directory must exist.
      verify: called with the complete `.part` path; raises `DataError` if the
        content is bad, in which case the `.part` file is deleted.
      retries: attempts in a row that may fail without progress before giving up.
      backoff_s: first wait between attempts; doubles after each failure.
      timeout_s: socket timeout of one request.

    Raises:
      DataError: not found, not downloadable after retries, or failed `verify`.
    """
    part = dest + ".part"
    local = _local_path(url)
    logging.info("Downloading %s -> %s", url, dest)
    if local is not None:
        _copy_local(local, part)
    else:
        failures, wait = 0, backoff_s
        while True:
            before = os.path.getsize(part) if os.path.exists(part) else 0
            try:
                _http_attempt(url, part, timeout_s)
                break
            except _TransientError as e:
                after = os.path.getsize(part) if os.path.exists(part) else 0
                failures = 1 if after > before else failures + 1
                if failures > retries:
                    kept = (f" (the {after:,} bytes received are kept in {part}; a rerun "
                            "resumes)" if after else "")
                    raise DownloadError(url, f"{e}, also after {retries} retries{kept}") from e
                logging.warning("Download of %s failed (%s); retry %d of %d in %.1f s",
                                url, e, failures, retries, wait)
                time.sleep(wait)
                wait = min(wait * 2, 30.0)
    if verify is not None:
        try:
            verify(part)
        except DataError:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(part)
            raise
    os.replace(part, dest)
    logging.info("Downloaded %s (%d bytes)", dest, os.path.getsize(dest))


def fetch_text(url: str, retries: int = 3, timeout_s: float = 30.0) -> str | None:
    """Returns the text at `url`, or None if it does not exist (404 / no file)."""
    local = _local_path(url)
    if local is not None:
        if not os.path.isfile(local):
            return None
        with open(local, encoding="utf-8", errors="replace") as f:
            return f.read()
    wait = 0.5
    for attempt in range(retries + 1):
        try:
            with urllib.request.urlopen(url, timeout=timeout_s) as response:
                return response.read().decode("utf-8", errors="replace")
        except urllib.error.HTTPError as e:
            if e.code in (403, 404, 410):
                return None
            reason = f"HTTP {e.code} {e.reason}"
            if e.code not in _RETRYABLE_HTTP or attempt == retries:
                raise DownloadError(url, reason) from e
        except (urllib.error.URLError, OSError, http.client.HTTPException) as e:
            reason, offline = _network_reason(e)
            if offline or attempt == retries:  # a name that does not resolve stays so
                raise DownloadError(url, reason, offline) from e
        logging.warning("Fetching %s failed (%s); retry %d of %d in %.1f s", url, reason,
                        attempt + 1, retries, wait)
        time.sleep(wait)
        wait *= 2
    return None


_MD5_BSD = re.compile(r"MD5\s*\(([^)]*)\)\s*=\s*([0-9a-fA-F]{32})")
_MD5_GNU = re.compile(r"^([0-9a-fA-F]{32})(?:\s+\*?(\S.*))?$")


def parse_md5(text: str, filename: str) -> str:
    """Extracts the MD5 of `filename` from a checksum file.

    Accepts the BSD form `MD5 (name) = <hex>` (GroupLens) and the `md5sum`
    form `<hex>  name` (or a bare hex digest).

    Returns:
      The lower-case hex digest.

    Raises:
      DataError: no digest for `filename` in `text`.
    """
    for line in text.splitlines():
        line = line.strip()
        bsd = _MD5_BSD.search(line)
        if bsd and os.path.basename(bsd.group(1).strip()) == filename:
            return bsd.group(2).lower()
        gnu = _MD5_GNU.match(line)
        if gnu and (gnu.group(2) is None or os.path.basename(gnu.group(2)) == filename):
            return gnu.group(1).lower()
    raise DataError(f"checksum file for {filename} holds no MD5 for it")


def md5_of(path: str) -> str:
    """Returns the hex MD5 of a file, read in 1 MiB blocks."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(CHUNK_BYTES):
            digest.update(block)
    return digest.hexdigest()


def _unsafe_reason(info: zipfile.ZipInfo) -> str | None:
    name = info.filename
    mode = info.external_attr >> 16
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "absolute path"
    if ".." in re.split(r"[/\\]", name):
        return "'..' in path"
    if stat.S_ISLNK(mode):
        return "symbolic link"
    return None


@dataclasses.dataclass(frozen=True)
class ArchiveLimits:
    """What a plausible archive of a dataset holds (documented per dataset).

    Attributes:
      max_member_bytes: largest uncompressed member.
      max_ratio: largest uncompressed / compressed size of a member (text
        compresses 3-6x; a member of zeros, a zip bomb, thousands of times).
    """

    max_member_bytes: int
    max_ratio: float = 50.0


def check_limits(path: str, label: str, limits: ArchiveLimits) -> None:
    """Refuses an archive with a member too large or too compressible, before reading it.

    Raises:
      DataError: naming the member, its size (or ratio) and the limit.
    """
    with zipfile.ZipFile(path) as zf:
        for info in zf.infolist():
            if info.file_size > limits.max_member_bytes:
                raise DataError(f"{label}: member {info.filename!r} is {info.file_size:,} bytes "
                                f"uncompressed, more than the {limits.max_member_bytes:,} this "
                                "dataset's files can be; refused")
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size > (1 << 20) and ratio > limits.max_ratio:
                raise DataError(f"{label}: member {info.filename!r} expands {ratio:,.0f}x "
                                f"(limit {limits.max_ratio:g}x); refused as a likely zip bomb")


def verify_zip(path: str, label: str | None = None, limits: ArchiveLimits | None = None
               ) -> None:
    """Checks that `path` is an intact, safe zip: limits, CRC of every member, no zip-slip.

    Raises:
      DataError: truncated or corrupt archive, bad CRC, an unsafe member
        (absolute path, `..`, or a link), or one beyond `limits`.
    """
    label = label or path
    try:
        if limits is not None:
            check_limits(path, label, limits)
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                reason = _unsafe_reason(info)
                if reason:
                    raise DataError(f"{label}: unsafe member {info.filename!r} ({reason})")
            bad = zf.testzip()
    except DataError:
        raise
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as e:
        raise DataError(f"{label}: corrupt or truncated zip ({e})") from e
    if bad is not None:
        raise DataError(f"{label}: CRC check failed for member {bad!r}")


def safe_extract(zip_path: str, dest_dir: str, members: Iterable[str] | None = None
                 ) -> list[str]:
    """Extracts regular-file members of a verified zip into `dest_dir`.

    Args:
      zip_path: a zip that passed `verify_zip`.
      dest_dir: existing directory.
      members: member names to extract (all files if None).

    Returns:
      Paths of the extracted files.

    Raises:
      DataError: a requested member is missing or unsafe.
    """
    out = []
    with zipfile.ZipFile(zip_path) as zf:
        infos = {i.filename: i for i in zf.infolist()}
        wanted = list(members) if members is not None else [
            n for n, i in infos.items() if not i.is_dir()]
        for name in wanted:
            info = infos.get(name)
            if info is None:
                raise DataError(f"{zip_path}: missing member {name!r}")
            reason = _unsafe_reason(info)
            if reason:
                raise DataError(f"{zip_path}: unsafe member {name!r} ({reason})")
            target = os.path.join(dest_dir, *name.split("/"))
            real_dest = os.path.realpath(dest_dir)
            if not os.path.realpath(target).startswith(real_dest + os.sep):
                raise DataError(f"{zip_path}: unsafe member {name!r} (escapes {dest_dir})")
            os.makedirs(os.path.dirname(target), exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst, CHUNK_BYTES)
            out.append(target)
    return out
