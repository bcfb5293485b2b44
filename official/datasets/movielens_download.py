"""Download, verification, extraction and the manifest of a MovieLens dataset.

`download` makes `<data_dir>/<dataset>/{ratings,movies}.csv` exist and be
complete: the verified `<dataset>.zip` (CRCs, and the MD5 where the mirror
has one), its needed members extracted safely, normalized
(`movielens_normalize`), and `manifest.json` written last. A dataset whose
manifest matches its files is complete: a second run does nothing.
"""

import datetime
import os
import tempfile
import zipfile

from absl import logging

from official.datasets import movielens_schema as schema
from official.datasets.movielens_normalize import normalize_raw
from official.datasets.movielens_schema import (
    DATASETS,
    MANIFEST_FILE,
    MOVIES_FILE,
    RATINGS_FILE,
    SYNTHETIC,
)
from official.datasets.movielens_synthetic import SyntheticSpec, generate_synthetic, write_zip
from official.utils.data import download as dl
from official.utils.errors import DataError, UserError
from official.utils.misc import atomic_io, integrity, locks

DEFAULT_DATA_URL = "https://files.grouplens.org/datasets/movielens/"
FORMAT_VERSION = 2  # 2: content checksums (CRC-32C) of the normalized files


def _manifest_ok(dataset_dir: str, dataset: str, synthetic: SyntheticSpec | None) -> bool:
    manifest = atomic_io.read_json(os.path.join(dataset_dir, MANIFEST_FILE))
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        return False
    if manifest.get("dataset") != dataset:
        return False
    expected_spec = synthetic.__dict__ if synthetic is not None else None
    if manifest.get("synthetic") != expected_spec:
        return False
    files = manifest.get("files") or {}
    if set(files) != {RATINGS_FILE, MOVIES_FILE}:
        return False
    changed = integrity.first_mismatch(dataset_dir, files)
    if changed:
        logging.warning("%s: %s since it was normalized; normalizing again", dataset_dir,
                        changed)
    return changed is None


def is_complete(data_dir: str, dataset: str, synthetic: SyntheticSpec | None = None) -> bool:
    """True if `<data_dir>/<dataset>` holds complete normalized files."""
    if dataset == SYNTHETIC and synthetic is None:
        synthetic = SyntheticSpec()
    return _manifest_ok(os.path.join(data_dir, dataset), dataset, synthetic)


def _verifier(url: str, md5_text: str | None, name: str, limits: dl.ArchiveLimits | None):
    def verify(part: str) -> None:
        dl.verify_zip(part, name, limits)
        if md5_text is not None:
            expected = dl.parse_md5(md5_text, name)
            actual = dl.md5_of(part)
            if actual != expected:
                raise DataError(f"{name}: MD5 mismatch (expected {expected}, got {actual} "
                                f"from {url}); the file was removed")
    return verify


def _limits(dataset: str) -> dl.ArchiveLimits | None:
    """The plausible archive of a GroupLens dataset (None: generated here)."""
    size = schema.MAX_MEMBER_BYTES.get(dataset)
    return dl.ArchiveLimits(size, schema.MAX_COMPRESSION_RATIO) if size else None


def _ensure_zip(dataset: str, dataset_dir: str, data_url: str,
                synthetic: SyntheticSpec | None) -> str:
    zip_name = f"{dataset}.zip"
    zip_path = os.path.join(dataset_dir, zip_name)
    if dataset == SYNTHETIC:
        logging.info("Generating synthetic MovieLens (%d users, %d items, %d ratings, "
                     "seed %d)", synthetic.num_users, synthetic.num_items,
                     synthetic.num_ratings, synthetic.seed)
        with tempfile.TemporaryDirectory(prefix=atomic_io.temp_prefix("raw"),
                                         dir=dataset_dir) as raw:
            names = generate_synthetic(raw, synthetic, schema.LAYOUT_CSV)
            movielens_zip = os.path.join(raw, zip_name)
            write_zip(raw, names, movielens_zip, dataset)
            os.replace(movielens_zip, zip_path)
        return zip_path
    if os.path.isfile(zip_path):
        try:
            dl.verify_zip(zip_path, zip_name, _limits(dataset))
            logging.info("Using verified download %s", zip_path)
            return zip_path
        except DataError as e:
            logging.warning("Existing %s is bad (%s); downloading again", zip_path, e)
            os.unlink(zip_path)
    url = dl.join_url(data_url, zip_name)
    try:
        md5_text = dl.fetch_text(url + ".md5")
        if md5_text is None:
            logging.info("No checksum at %s.md5; relying on the zip's CRCs", url)
        dl.download_file(url, zip_path,
                         verify=_verifier(url, md5_text, zip_name, _limits(dataset)))
    except dl.DownloadError as e:
        raise DataError(dl.explain_failure(f"MovieLens {dataset}", url, e, zip_name,
                                         "--dataset synthetic")) from e
    return zip_path


def download(dataset: str, data_dir: str, data_url: str = DEFAULT_DATA_URL,
             synthetic: SyntheticSpec | None = None, force: bool = False) -> str:
    """Makes `<data_dir>/<dataset>/{ratings,movies}.csv` exist and be complete.

    Args:
      dataset: one of `DATASETS`.
      data_dir: root data directory (created if missing).
      data_url: base URL or directory holding `<dataset>.zip` (and optionally
        `<dataset>.zip.md5`): http(s), file:// or a local path.
      synthetic: size and seed for `synthetic` (default: ml-1m sized, seed 0).
      force: normalize again even if complete files exist.

    Returns:
      The dataset directory.

    Raises:
      DataError: unknown dataset, unwritable data_dir, download / verification
        / normalization failure. Nothing partial is left behind.
    """
    if dataset not in DATASETS:
        raise DataError(f"unknown dataset {dataset!r}; choose one of {', '.join(DATASETS)}")
    if dataset == SYNTHETIC:
        synthetic = synthetic or SyntheticSpec()
        try:
            synthetic.validate()
        except ValueError as e:
            raise DataError(f"synthetic dataset: {e}") from e
    else:
        synthetic = None
    dataset_dir = os.path.join(data_dir, dataset)
    created = not os.path.isdir(dataset_dir)
    try:
        os.makedirs(dataset_dir, exist_ok=True)
        probe = atomic_io.temp_path_for(os.path.join(dataset_dir, "probe"))
        os.unlink(probe)
    except OSError as e:
        raise DataError(f"data_dir {data_dir!r} is not writable: "
                        f"{e.strerror or e}") from e
    # One preparer at a time: a second run waits, then finds the dataset complete.
    with locks.hold(os.path.join(data_dir, f".{dataset}.lock"), f"dataset {dataset_dir}",
                    wait=True):
        atomic_io.remove_stale_temporaries(dataset_dir)

        if not force and _manifest_ok(dataset_dir, dataset, synthetic):
            logging.info("%s is already complete in %s; nothing to do", dataset, dataset_dir)
            return dataset_dir

        outputs = [os.path.join(dataset_dir, n) for n in (MANIFEST_FILE, RATINGS_FILE,
                                                          MOVIES_FILE)]
        for path in outputs:  # An old manifest must not vouch for new files.
            if os.path.exists(path):
                os.unlink(path)
        try:
            zip_path = _ensure_zip(dataset, dataset_dir, data_url, synthetic)
            layout = schema.LAYOUTS[dataset]
            with tempfile.TemporaryDirectory(prefix=atomic_io.temp_prefix("extract"),
                                             dir=dataset_dir) as raw:
                members = _find_members(zip_path, dataset, layout)
                logging.info("Extracting %s from %s", ", ".join(members), zip_path)
                dl.safe_extract(zip_path, raw, members)
                raw_dir = os.path.dirname(os.path.join(raw, *members[0].split("/")))
                files = normalize_raw(raw_dir, dataset_dir, layout, os.path.basename(zip_path))
                for name, checksum in integrity.describe(dataset_dir, files).items():
                    files[name].update(checksum)
            atomic_io.write_json(os.path.join(dataset_dir, MANIFEST_FILE), {
                "format": FORMAT_VERSION,
                "dataset": dataset,
                "source": os.path.basename(zip_path),
                "source_md5": dl.md5_of(zip_path),
                "synthetic": synthetic.__dict__ if synthetic is not None else None,
                "files": files,
                "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
            })
        except BaseException as e:
            for path in outputs:
                if os.path.exists(path):
                    os.unlink(path)
            # A zip whose content cannot be normalized is as useless as a corrupt one.
            bad_zip = os.path.join(dataset_dir, f"{dataset}.zip")
            if os.path.exists(bad_zip) and (isinstance(e, DataError) or not _zip_usable(bad_zip)):
                os.unlink(bad_zip)
            if created and not os.listdir(dataset_dir):
                os.rmdir(dataset_dir)
            raise
        logging.info("Normalized %s: %d ratings, %d movies -> %s", dataset,
                     files[RATINGS_FILE]["rows"], files[MOVIES_FILE]["rows"], dataset_dir)
        return dataset_dir


def ensure(dataset: str, data_dir: str, data_url: str = DEFAULT_DATA_URL,
           synthetic: SyntheticSpec | None = None, download_if_missing: bool = True) -> str:
    """Returns the dataset directory, downloading first if allowed and needed.

    Raises:
      UserError: the dataset is missing and `download_if_missing` is False.
    """
    if is_complete(data_dir, dataset, synthetic):
        return os.path.join(data_dir, dataset)
    if not download_if_missing:
        raise UserError(f"{dataset} is not in {data_dir} and --nodownload_if_missing is set")
    return download(dataset, data_dir, data_url, synthetic)


def _zip_usable(path: str) -> bool:
    """False for a zip that is corrupt or unsafe (so it must not be kept)."""
    try:
        dl.verify_zip(path)
        return True
    except DataError:
        return False


def _find_members(zip_path: str, dataset: str, layout: str) -> list[str]:
    """Names of the layout's raw members inside the zip (any top folder)."""
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
    found = []
    for member in schema.RAW_MEMBERS[layout]:
        candidates = sorted((n for n in names if n.rsplit("/", 1)[-1] == member
                             and n.count("/") <= 1), key=len)
        if not candidates:
            raise DataError(f"{os.path.basename(zip_path)}: missing member {member!r} "
                            f"(expected the {dataset} layout)")
        found.append(candidates[0])
    return found

