"""Download, verify, extract and normalize MovieLens; loaders; CLI.

    python -m official.datasets.movielens --dataset ml-1m --data_dir /tmp/movielens-data

Each dataset ends up as `<data_dir>/<dataset>/ratings.csv`
(`user_id,item_id,rating,timestamp`) and `<data_dir>/<dataset>/movies.csv`
(`item_id,titles,genres`), plus the verified `<dataset>.zip` and a
`manifest.json` written last. A dataset whose manifest matches its files is
complete: a second run does nothing. Every file is written under a temporary
name and renamed, so a killed run never leaves a file a later run accepts.

`synthetic` is generated locally (no network) in the CSV layout and then runs
through the same zip verification, extraction and normalization.
"""

import datetime
import io
import os
import re
import tempfile
import zipfile
from collections.abc import Iterator

import numpy as np
import pandas as pd
from absl import flags, logging

from official.datasets import movielens_schema as schema
from official.datasets.movielens_schema import (  # noqa: F401  (re-exported API)
    DATASETS,
    GENRE_COLUMN,
    GENRES,
    ITEM_COLUMN,
    MANIFEST_FILE,
    MOVIE_COLUMNS,
    MOVIES_FILE,
    N_GENRE,
    RATING_COLUMN,
    RATING_COLUMNS,
    RATINGS_FILE,
    SYNTHETIC,
    TIMESTAMP_COLUMN,
    TITLE_COLUMN,
    USER_COLUMN,
)
from official.datasets.movielens_synthetic import (  # noqa: F401  (re-exported API)
    SyntheticSpec,
    generate_synthetic,
    write_zip,
)
from official.utils.data import csv_errors
from official.utils.data import download as dl
from official.utils.errors import DataError, UserError
from official.utils.flags import core as flags_core
from official.utils.logs import progress
from official.utils.misc import atomic_io

DEFAULT_DATA_URL = "https://files.grouplens.org/datasets/movielens/"
FORMAT_VERSION = 1
_BLOCK_BYTES = 32 << 20

# Raw members each layout needs, relative to the zip's top folder.
_RAW_MEMBERS = {
    schema.LAYOUT_CSV: ("ratings.csv", "movies.csv"),
    schema.LAYOUT_DAT: ("ratings.dat", "movies.dat"),
    schema.LAYOUT_100K: ("u.data", "u.item"),
}
_RATINGS_DTYPES = {USER_COLUMN: np.int32, ITEM_COLUMN: np.int32,
                   RATING_COLUMN: np.float32, TIMESTAMP_COLUMN: np.int64}


# ----------------------------------------------------------------------------
# Normalization of ratings: streamed in blocks, parsed by pandas' C parser,
# validated with whole-array checks, then written through unchanged.
# ----------------------------------------------------------------------------

def _line_blocks(f: io.BufferedIOBase, block_bytes: int) -> Iterator[bytes]:
    """Yields blocks of whole lines (each ends with a newline)."""
    carry = b""
    while True:
        block = f.read(block_bytes)
        if not block:
            break
        data = carry + block
        cut = data.rfind(b"\n") + 1
        carry = data[cut:]
        if cut:
            yield data[:cut]
    if carry.strip():
        yield carry + b"\n"


def _nth_data_line(block: bytes, row: int) -> int:
    """1-based line (blank lines counted) in `block` of data row `row` (0-based)."""
    seen = -1
    for number, line in enumerate(block.split(b"\n"), start=1):
        if line.strip():
            seen += 1
            if seen == row:
                return number
    return number


def _check_ratings_block(df: pd.DataFrame, block: bytes, where: str, first_line: int
                         ) -> None:
    """Raises DataError for the first invalid row of a parsed block."""
    for col in schema.RATING_COLUMNS:
        values = df[col]
        if not pd.api.types.is_numeric_dtype(values):
            bad = pd.to_numeric(values, errors="coerce").isna() & values.notna()
            if not bad.any():
                bad = values.isna()
            row = int(np.argmax(bad.to_numpy()))
            line = first_line + _nth_data_line(block, row) - 1
            raise DataError(f"{where} line {line}: non-numeric {col} "
                            f"{values.iloc[row]!r}")
        arr = values.to_numpy()
        if arr.dtype.kind == "f":
            bad = ~np.isfinite(arr)
            if col != RATING_COLUMN:
                bad |= np.floor(np.nan_to_num(arr)) != np.nan_to_num(arr)
            if bad.any():
                row = int(np.argmax(bad))
                line = first_line + _nth_data_line(block, row) - 1
                what = "missing fields (expected 4)" if np.isnan(arr[row]) else \
                    f"non-integer {col} {arr[row]!r}"
                raise DataError(f"{where} line {line}: {what}")
        if col != RATING_COLUMN and (arr < 0).any():
            row = int(np.argmax(arr < 0))
            line = first_line + _nth_data_line(block, row) - 1
            raise DataError(f"{where} line {line}: negative {col} {arr[row]!r}")


def normalize_ratings(src: str, dst: str, separator: bytes, has_header: bool,
                      label: str | None = None) -> int:
    r"""Rewrites a raw ratings file as `ratings.csv`, validating every row.

    Args:
      src: raw file: 4 fields a line (user, item, rating, timestamp).
      dst: output path, written atomically with the normalized header.
      separator: raw field separator (b",", b"\\t" or b"::").
      has_header: whether the raw file starts with a header line.
      label: name used in error messages (default `src`).

    Returns:
      Number of ratings written.

    Raises:
      DataError: naming the file and line of the first malformed row.
    """
    where = label or src
    rows = 0
    line_no = 1
    with open(src, "rb") as f, atomic_io.atomic_write(dst, "wb") as out, \
            progress.bar(os.path.getsize(src), f"normalize {os.path.basename(src)}", "B",
                         unit_scale=True) as bar:
        out.write((",".join(schema.RATING_COLUMNS) + "\n").encode())
        if has_header:
            header = f.readline()
            bar.update(len(header))
            if header.count(separator) != 3:
                raise DataError(f"{where} line 1: header {header.strip()!r} does not have "
                                "4 fields")
            line_no = 2
        for block in _line_blocks(f, _BLOCK_BYTES):
            bar.update(len(block))
            block_lines = block.count(b"\n")
            if b"\r" in block:
                block = block.replace(b"\r\n", b"\n")
            if separator != b",":
                if b"," in block:
                    bad = block[:block.index(b",")].count(b"\n")
                    raise DataError(f"{where} line {line_no + bad}: unexpected ','")
                block = block.replace(separator, b",")
            try:
                df = pd.read_csv(io.BytesIO(block), header=None, names=schema.RATING_COLUMNS,
                                 index_col=False, engine="c")
            except pd.errors.ParserError as e:
                raise csv_errors.from_parser_error(e, where, line_no) from e
            _check_ratings_block(df, block, where, line_no)
            if b"\n\n" in block or block.startswith(b"\n"):
                block = re.sub(rb"\n(?:[ \t]*\n)+", b"\n", block).lstrip(b"\n")
            out.write(block)
            rows += len(df)
            line_no += block_lines
    if rows == 0:
        os.unlink(dst)
        raise DataError(f"{where}: no ratings")
    return rows


# ----------------------------------------------------------------------------
# Normalization of movies (small: thousands of rows).
# ----------------------------------------------------------------------------

def normalize_genres(genres: pd.Series) -> pd.Series:
    """Maps raw `|`-joined genre strings onto `GENRES` names, vectorized.

    `Children's` becomes `Children`; names outside `GENRES` (e.g. `unknown`)
    are dropped; a movie left with none gets `(no genres listed)`.
    """
    exploded = genres.fillna("").astype(str).str.split("|").explode().str.strip()
    exploded = exploded.replace(schema.GENRE_ALIASES)
    exploded = exploded[exploded.isin(schema.GENRES)]
    joined = exploded.groupby(level=0).agg("|".join)
    return joined.reindex(genres.index, fill_value=schema.NO_GENRE)


def _movies_from_raw(path: str, layout: str, where: str) -> pd.DataFrame:
    if layout == schema.LAYOUT_CSV:
        try:
            raw = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
        except (UnicodeDecodeError, pd.errors.ParserError) as e:
            raise DataError(f"{where}: cannot parse ({e})") from e
        if raw.shape[1] != 3:
            raise DataError(f"{where} line 1: expected 3 columns (movieId,title,genres), "
                            f"got {raw.shape[1]}")
        raw.columns = schema.MOVIE_COLUMNS
        first_line = 2
    elif layout == schema.LAYOUT_DAT:
        with open(path, encoding="latin-1") as f:
            lines = pd.Series(f.read().splitlines())
        lines = lines[lines.str.strip() != ""]
        head = lines.str.split("::", n=1, expand=True)
        if head.shape[1] < 2 or head[1].isna().any():
            row = 0 if head.shape[1] < 2 else int(np.argmax(head[1].isna()))
            raise DataError(f"{where} line {lines.index[row] + 1}: expected 3 fields "
                            "separated by '::'")
        tail = head[1].str.rsplit("::", n=1, expand=True)
        if tail.shape[1] < 2 or tail[1].isna().any():
            row = 0 if tail.shape[1] < 2 else int(np.argmax(tail[1].isna()))
            raise DataError(f"{where} line {lines.index[row] + 1}: expected 3 fields "
                            "separated by '::'")
        raw = pd.DataFrame({ITEM_COLUMN: head[0], TITLE_COLUMN: tail[0],
                            GENRE_COLUMN: tail[1]})
        raw.index = lines.index
        first_line = 1
    else:  # ml-100k u.item: id|title|release|video|url|19 genre flags.
        try:
            raw = pd.read_csv(path, sep="|", header=None, dtype=str, encoding="latin-1",
                              keep_default_na=False, quoting=3, index_col=False)
        except pd.errors.ParserError as e:
            raise DataError(f"{where}: cannot parse ({e})") from e
        if raw.shape[1] != 5 + len(schema.ML_100K_GENRES):
            raise DataError(f"{where}: expected {5 + len(schema.ML_100K_GENRES)} "
                            f"'|'-separated fields, got {raw.shape[1]}")
        flag_values = raw.iloc[:, 5:]
        bad = ~flag_values.isin(["0", "1"]).all(axis=1).to_numpy()
        if bad.any():
            raise DataError(f"{where} line {int(np.argmax(bad)) + 1}: genre flags must be "
                            "0 or 1")
        flag_matrix = flag_values.to_numpy() == "1"
        genres = pd.Series("", index=raw.index)
        for j, name in enumerate(schema.ML_100K_GENRES):  # 19 columns, not rows.
            genres = genres + np.where(flag_matrix[:, j], name + "|", "")
        raw = pd.DataFrame({ITEM_COLUMN: raw[0], TITLE_COLUMN: raw[1],
                            GENRE_COLUMN: genres.str.rstrip("|")})
        first_line = 1
    ids = pd.to_numeric(raw[ITEM_COLUMN].str.strip(), errors="coerce")
    bad = (ids.isna() | (ids < 0) | (ids != np.floor(ids))).to_numpy()
    if bad.any():
        row = int(np.argmax(bad))
        raise DataError(f"{where} line {raw.index[row] + first_line}: non-numeric item id "
                        f"{raw[ITEM_COLUMN].iloc[row]!r}")
    return pd.DataFrame({
        ITEM_COLUMN: ids.astype(np.int64).to_numpy(),
        TITLE_COLUMN: raw[TITLE_COLUMN].to_numpy(),
        GENRE_COLUMN: normalize_genres(raw[GENRE_COLUMN].reset_index(drop=True)).to_numpy(),
    })


def normalize_raw(raw_dir: str, out_dir: str, layout: str, label: str) -> dict:
    """Normalizes raw files of a layout into `ratings.csv` and `movies.csv`.

    Args:
      raw_dir: directory holding the raw members of `layout`.
      out_dir: receives `ratings.csv` and `movies.csv` (atomically).
      layout: `schema.LAYOUT_*`.
      label: prefix for error messages (e.g. the zip name).

    Returns:
      `{file name: {"bytes": int, "rows": int}}` for the manifest.
    """
    ratings_name, movies_name = _RAW_MEMBERS[layout]
    separator, has_header = {
        schema.LAYOUT_CSV: (b",", True), schema.LAYOUT_DAT: (b"::", False),
        schema.LAYOUT_100K: (b"\t", False)}[layout]
    ratings_out = os.path.join(out_dir, RATINGS_FILE)
    movies_out = os.path.join(out_dir, MOVIES_FILE)
    n_ratings = normalize_ratings(os.path.join(raw_dir, ratings_name), ratings_out,
                                  separator, has_header, f"{label}:{ratings_name}")
    movies = _movies_from_raw(os.path.join(raw_dir, movies_name), layout,
                              f"{label}:{movies_name}")
    with atomic_io.atomic_write(movies_out, "w", encoding="utf-8", newline="") as f:
        movies.to_csv(f, index=False, lineterminator="\n")
    return {
        RATINGS_FILE: {"bytes": os.path.getsize(ratings_out), "rows": n_ratings},
        MOVIES_FILE: {"bytes": os.path.getsize(movies_out), "rows": len(movies)},
    }


# ----------------------------------------------------------------------------
# Download and the manifest.
# ----------------------------------------------------------------------------

def _manifest_ok(dataset_dir: str, dataset: str, synthetic: SyntheticSpec | None) -> bool:
    manifest = atomic_io.read_json(os.path.join(dataset_dir, MANIFEST_FILE))
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
        return False
    if manifest.get("dataset") != dataset:
        return False
    expected_spec = synthetic.__dict__ if synthetic is not None else None
    if manifest.get("synthetic") != expected_spec:
        return False
    for name, info in (manifest.get("files") or {}).items():
        path = os.path.join(dataset_dir, name)
        if not os.path.isfile(path) or os.path.getsize(path) != info.get("bytes"):
            return False
    return set(manifest.get("files") or {}) == {RATINGS_FILE, MOVIES_FILE}


def is_complete(data_dir: str, dataset: str, synthetic: SyntheticSpec | None = None) -> bool:
    """True if `<data_dir>/<dataset>` holds complete normalized files."""
    if dataset == SYNTHETIC and synthetic is None:
        synthetic = SyntheticSpec()
    return _manifest_ok(os.path.join(data_dir, dataset), dataset, synthetic)


def _verifier(url: str, md5_text: str | None, name: str):
    def verify(part: str) -> None:
        dl.verify_zip(part, name)
        if md5_text is not None:
            expected = dl.parse_md5(md5_text, name)
            actual = dl.md5_of(part)
            if actual != expected:
                raise DataError(f"{name}: MD5 mismatch (expected {expected}, got {actual} "
                                f"from {url}); the file was removed")
    return verify


def _ensure_zip(dataset: str, dataset_dir: str, data_url: str,
                synthetic: SyntheticSpec | None) -> str:
    zip_name = f"{dataset}.zip"
    zip_path = os.path.join(dataset_dir, zip_name)
    if dataset == SYNTHETIC:
        logging.info("Generating synthetic MovieLens (%d users, %d items, %d ratings, "
                     "seed %d)", synthetic.num_users, synthetic.num_items,
                     synthetic.num_ratings, synthetic.seed)
        with tempfile.TemporaryDirectory(prefix=".raw" + atomic_io.TMP_MARKER,
                                         dir=dataset_dir) as raw:
            names = generate_synthetic(raw, synthetic, schema.LAYOUT_CSV)
            movielens_zip = os.path.join(raw, zip_name)
            write_zip(raw, names, movielens_zip, dataset)
            os.replace(movielens_zip, zip_path)
        return zip_path
    if os.path.isfile(zip_path):
        try:
            dl.verify_zip(zip_path, zip_name)
            logging.info("Using verified download %s", zip_path)
            return zip_path
        except DataError as e:
            logging.warning("Existing %s is bad (%s); downloading again", zip_path, e)
            os.unlink(zip_path)
    url = dl.join_url(data_url, zip_name)
    md5_text = dl.fetch_text(url + ".md5")
    if md5_text is None:
        logging.info("No checksum at %s.md5; relying on the zip's CRCs", url)
    dl.download_file(url, zip_path, verify=_verifier(url, md5_text, zip_name))
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
        with tempfile.TemporaryDirectory(prefix=".extract" + atomic_io.TMP_MARKER,
                                         dir=dataset_dir) as raw:
            members = _find_members(zip_path, dataset, layout)
            logging.info("Extracting %s from %s", ", ".join(members), zip_path)
            dl.safe_extract(zip_path, raw, members)
            raw_dir = os.path.dirname(os.path.join(raw, *members[0].split("/")))
            files = normalize_raw(raw_dir, dataset_dir, layout, os.path.basename(zip_path))
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
    for member in _RAW_MEMBERS[layout]:
        candidates = sorted((n for n in names if n.rsplit("/", 1)[-1] == member
                             and n.count("/") <= 1), key=len)
        if not candidates:
            raise DataError(f"{os.path.basename(zip_path)}: missing member {member!r} "
                            f"(expected the {dataset} layout)")
        found.append(candidates[0])
    return found


# ----------------------------------------------------------------------------
# Loaders.
# ----------------------------------------------------------------------------

def _require(path: str, dataset: str) -> str:
    if not os.path.isfile(path):
        raise DataError(f"{path} not found; run `python -m official.datasets.movielens "
                        f"--dataset {dataset}` first")
    return path


def ratings_csv_to_dataframe(data_dir: str, dataset: str) -> pd.DataFrame:
    """Loads normalized ratings.

    Returns:
      DataFrame with user_id int32, item_id int32, rating float32, timestamp int64.
    """
    path = _require(os.path.join(data_dir, dataset, RATINGS_FILE), dataset)
    return pd.read_csv(path, dtype=_RATINGS_DTYPES, engine="c")


def movies_csv_to_dataframe(data_dir: str, dataset: str) -> pd.DataFrame:
    """Loads normalized movies: item_id int32, titles str, genres str."""
    path = _require(os.path.join(data_dir, dataset, MOVIES_FILE), dataset)
    return pd.read_csv(path, dtype={ITEM_COLUMN: np.int32, TITLE_COLUMN: str,
                                    GENRE_COLUMN: str}, keep_default_na=False,
                       encoding="utf-8")


def csv_to_joint_dataframe(data_dir: str, dataset: str) -> pd.DataFrame:
    """Ratings joined with their movie's title and genres (inner join on item_id)."""
    ratings = ratings_csv_to_dataframe(data_dir, dataset)
    movies = movies_csv_to_dataframe(data_dir, dataset)
    return ratings.merge(movies, on=ITEM_COLUMN, how="inner")


def genres_to_multi_hot(genres: pd.Series) -> np.ndarray:
    """`|`-joined genre strings -> multi-hot matrix over `GENRES`.

    Args:
      genres: Series of N strings.

    Returns:
      int64 array of shape [N, N_GENRE].
    """
    codes, uniques = pd.factorize(genres.fillna("").astype(str))
    names = pd.Series(uniques).str.replace("Children's", "Children", regex=False)
    table = names.str.get_dummies(sep="|").reindex(columns=GENRES, fill_value=0)
    return table.to_numpy(dtype=np.int64)[codes]


def integerize_genres(dataframe: pd.DataFrame) -> pd.DataFrame:
    """Replaces the genre strings with length-19 int64 multi-hot vectors.

    Args:
      dataframe: has a `genres` column of `|`-joined strings.

    Returns:
      The same DataFrame (modified in place) whose `genres` holds one int64
      array of shape [N_GENRE] per row.
    """
    matrix = genres_to_multi_hot(dataframe[GENRE_COLUMN])
    dataframe[GENRE_COLUMN] = list(matrix)
    return dataframe


# ----------------------------------------------------------------------------
# CLI.
# ----------------------------------------------------------------------------

def define_data_download_flags(data_dir: bool = True,
                                flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Registers --dataset, --data_url, --synthetic_* (and --data_dir)."""
    fd = flags_core.bind(flag_values)
    if data_dir:
        fd.DEFINE_string(
            "data_dir", "/tmp/movielens-data",
            help=flags_core.help_wrap("Directory to download and normalize data into."))
    fd.DEFINE_enum(
        "dataset", None, DATASETS, case_sensitive=False,
        help=flags_core.help_wrap("MovieLens dataset. `synthetic` is generated locally "
                                  "(no network)."))
    fd.DEFINE_string(
        "data_url", DEFAULT_DATA_URL,
        help=flags_core.help_wrap("Base URL or directory holding <dataset>.zip (and "
                                  "<dataset>.zip.md5): a mirror, a file:// URL or a "
                                  "local path for air-gapped copies."))
    fd.DEFINE_integer("synthetic_users", SyntheticSpec.num_users, lower_bound=1,
                         help="Users in the synthetic dataset.")
    fd.DEFINE_integer("synthetic_items", SyntheticSpec.num_items, lower_bound=40,
                         help="Items in the synthetic dataset.")
    fd.DEFINE_integer("synthetic_ratings", SyntheticSpec.num_ratings, lower_bound=20,
                         help="Ratings in the synthetic dataset (>= 20 per user).")
    fd.DEFINE_integer("synthetic_seed", 0, help="Seed of the synthetic dataset.")


def synthetic_spec_from_flags(flags_obj: flags.FlagValues) -> SyntheticSpec:
    """The `SyntheticSpec` named by the --synthetic_* flags."""
    return SyntheticSpec(flags_obj.synthetic_users, flags_obj.synthetic_items,
                         flags_obj.synthetic_ratings, flags_obj.synthetic_seed)


def main(_: list[str]) -> None:
    """Downloads and normalizes the datasets named by the flags."""
    f = flags.FLAGS
    datasets = [f.dataset] if f.dataset else schema.DEFAULT_DATASETS
    for name in datasets:
        path = download(name, f.data_dir, f.data_url, synthetic_spec_from_flags(f),
                        force=f.force)
        print(f"{name}: {os.path.join(path, RATINGS_FILE)}, {os.path.join(path, MOVIES_FILE)}")


def cli_main() -> None:
    """Console entry point (`official-movielens`): defines the flags, runs `main`."""
    from official.utils.misc import cli

    define_data_download_flags()
    flags.DEFINE_boolean("force", False, help="Normalize again even if complete files exist.")
    cli.run(main)


if __name__ == "__main__":
    cli_main()
