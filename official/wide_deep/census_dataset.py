"""Census Income (UCI Adult): download, clean, load; synthetic data; CLI.

    python -m official.wide_deep.census_dataset --data_dir /tmp/census_data [--data_url URL]

Downloads `adult.data` and `adult.test` from --data_url (default: the UCI
location the 2018 code used; a mirror, file:// URL or local directory works
too) through the verified, resumable downloader, and writes cleaned copies
to `<data_dir>/adult.data` and `<data_dir>/adult.test`:

* the space after each comma is removed;
* blank lines and lines without a comma (the `|1x3 Cross validator` line
  at the top of adult.test) are dropped;
* the trailing `.` of adult.test labels (`>50K.`) is dropped.

Each cleaned file is checked (15 fields a row, numeric fields numeric) and
written atomically; a malformed row is a `DataError` naming the file and line,
and nothing is kept. A second run with both files present does nothing.
"""

import contextlib
import io
import os
import tempfile

import numpy as np
import pandas as pd
from absl import flags, logging

from official.utils.data import csv_errors
from official.utils.data import download as dl
from official.utils.errors import DataError, UserError
from official.utils.flags import core as flags_core
from official.utils.misc import atomic_io, integrity

DEFAULT_DATA_URL = "https://archive.ics.uci.edu/ml/machine-learning-databases/adult"
TRAINING_FILE = "adult.data"
EVAL_FILE = "adult.test"
MANIFEST = "census_manifest.json"  # sizes and CRC-32C of the cleaned files, written last

CSV_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status",
    "occupation", "relationship", "race", "gender", "capital_gain", "capital_loss",
    "hours_per_week", "native_country", "income_bracket",
]
NUMERIC_COLUMNS = ["age", "fnlwgt", "education_num", "capital_gain", "capital_loss",
                   "hours_per_week"]
LABEL_COLUMN = "income_bracket"
POSITIVE_LABEL = ">50K"

EDUCATION = ["Bachelors", "HS-grad", "11th", "Masters", "9th", "Some-college", "Assoc-acdm",
             "Assoc-voc", "7th-8th", "Doctorate", "Prof-school", "5th-6th", "10th", "1st-4th",
             "Preschool", "12th"]
MARITAL_STATUS = ["Married-civ-spouse", "Divorced", "Married-spouse-absent", "Never-married",
                  "Separated", "Married-AF-spouse", "Widowed"]
RELATIONSHIP = ["Husband", "Not-in-family", "Wife", "Own-child", "Unmarried",
                "Other-relative"]
WORKCLASS = ["Self-emp-not-inc", "Private", "State-gov", "Federal-gov", "Local-gov", "?",
             "Self-emp-inc", "Without-pay", "Never-worked"]
GENDER = ["Male", "Female"]
RACE = ["White", "Black", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other"]
OCCUPATIONS = ["Tech-support", "Craft-repair", "Other-service", "Sales", "Exec-managerial",
               "Prof-specialty", "Handlers-cleaners", "Machine-op-inspct", "Adm-clerical",
               "Farming-fishing", "Transport-moving", "Priv-house-serv", "Protective-serv",
               "Armed-Forces", "?"]


def clean_text(raw: str) -> str:
    """Applies the UCI cleaning rules (see module docstring) to a whole file's text."""
    lines = pd.Series(raw.splitlines()).str.strip().str.replace(", ", ",", regex=False)
    lines = lines[lines.str.contains(",", regex=False)]
    lines = lines.str.replace(r"\.$", "", regex=True)
    return "".join(lines + "\n")


def parse_clean(text: str, where: str) -> pd.DataFrame:
    """Parses cleaned census CSV text into a typed DataFrame.

    Returns:
      DataFrame with CSV_COLUMNS: numeric columns int64, the others str.

    Raises:
      DataError: wrong field count or a non-numeric numeric field, naming
        `where` and the line.
    """
    try:
        df = pd.read_csv(io.StringIO(text), header=None, names=CSV_COLUMNS, dtype=str,
                         keep_default_na=False, engine="c", index_col=False)
    except pd.errors.ParserError as e:
        raise csv_errors.from_parser_error(e, where) from e
    if df.empty:
        raise DataError(f"{where}: no rows")
    csv_errors.check_rows(where, df[LABEL_COLUMN] == "", "expected 15 fields, saw fewer")
    for col in NUMERIC_COLUMNS:
        values = pd.to_numeric(df[col], errors="coerce")
        csv_errors.check_rows(where, values.isna(),
                              lambda row, col=col: f"non-numeric {col} {df[col].iloc[row]!r}")
        df[col] = values.astype(np.int64)
    labels = set(df[LABEL_COLUMN].unique())
    if not labels <= {">50K", "<=50K"}:
        raise DataError(f"{where}: unexpected income labels {sorted(labels - {'>50K', '<=50K'})}")
    return df


def _fetch_clean(url: str, path: str) -> None:
    name = os.path.basename(path)
    raw_path = path + ".raw"
    try:
        dl.download_file(url, raw_path)
    except dl.DownloadError as e:
        raise DataError(dl.explain_failure(f"census {name}", url, e,
                                           f"{TRAINING_FILE} and {EVAL_FILE}",
                                           "--dataset synthetic")) from e
    try:
        with open(raw_path, encoding="utf-8", errors="replace") as f:
            text = clean_text(f.read())
        parse_clean(text, f"{name} (from {url})")  # validate before anything is kept
        with atomic_io.atomic_write(path, "w", encoding="utf-8") as out:
            out.write(text)
    finally:
        os.unlink(raw_path)


def download(data_dir: str, data_url: str = DEFAULT_DATA_URL, with_test: bool = True
             ) -> tuple[str, str]:
    """Makes cleaned `adult.data` and (`with_test`) `adult.test` exist in `data_dir`.

    Returns:
      (training file path, evaluation file path); without `with_test` the
      evaluation file may not exist.

    Raises:
      DataError: unwritable data_dir, download failure or malformed rows;
        nothing partial is left behind.
    """
    try:
        os.makedirs(data_dir, exist_ok=True)
    except OSError as e:
        raise DataError(f"data_dir {data_dir!r} is not writable: {e.strerror or e}") from e
    names = (TRAINING_FILE, EVAL_FILE) if with_test else (TRAINING_FILE,)
    damage = intact(data_dir, names)
    if damage is None:
        logging.info("Cleaned census files in %s are intact; nothing to do", data_dir)
    else:
        if any(os.path.exists(os.path.join(data_dir, n)) for n in (*names, MANIFEST)):
            logging.warning("%s: %s; downloading and cleaning again", data_dir, damage)
        with contextlib.suppress(FileNotFoundError):  # an old manifest must not vouch
            os.unlink(os.path.join(data_dir, MANIFEST))
        for name in names:
            _fetch_clean(dl.join_url(data_url, name), os.path.join(data_dir, name))
            logging.info("Wrote cleaned %s", os.path.join(data_dir, name))
        atomic_io.write_json(os.path.join(data_dir, MANIFEST),
                             {"files": integrity.describe(data_dir, names)})
    return os.path.join(data_dir, TRAINING_FILE), os.path.join(data_dir, EVAL_FILE)


def intact(data_dir: str, names: tuple[str, ...] = (TRAINING_FILE, EVAL_FILE)) -> str | None:
    """None if cleaned files `names` are all vouched for by the manifest; else what is wrong."""
    manifest = atomic_io.read_json(os.path.join(data_dir, MANIFEST))
    if not isinstance(manifest, dict):
        return f"no {MANIFEST} vouches for the cleaned files"
    files = manifest.get("files") or {}
    missing = [n for n in names if n not in files]
    if missing:
        return f"{missing[0]} (not yet cleaned)"
    return integrity.first_mismatch(data_dir, files)


DATASETS = ("adult", "synthetic")


def dataset_dir(data_dir: str, dataset: str) -> str:
    """Where a dataset's cleaned files live: `data_dir` for adult, `data_dir/synthetic`."""
    return data_dir if dataset == "adult" else os.path.join(data_dir, dataset)


def ensure_dataset(data_dir: str, dataset: str = "adult", data_url: str = DEFAULT_DATA_URL,
                   download_if_missing: bool = True, with_test: bool = True
                   ) -> tuple[str, str]:
    """`ensure` for `dataset`: "adult" downloads; "synthetic" generates, offline.

    The synthetic files (32,561 + 16,281 rows with a planted rule,
    `generate_synthetic`, seed 0) go through the same clean-and-verify path
    as a download, into `data_dir/synthetic`.
    """
    if dataset not in DATASETS:
        raise UserError(f"unknown census dataset {dataset!r}; choose one of "
                        f"{', '.join(DATASETS)}")
    target = dataset_dir(data_dir, dataset)
    if dataset == "adult" or intact(target) is None:
        return ensure(target, data_url, download_if_missing, with_test)
    os.makedirs(target, exist_ok=True)
    logging.info("Generating synthetic census files (seed 0) in %s", target)
    with tempfile.TemporaryDirectory(prefix=atomic_io.temp_prefix("raw"), dir=target) as raw:
        generate_synthetic(raw)
        return download(target, raw)


def ensure(data_dir: str, data_url: str = DEFAULT_DATA_URL, download_if_missing: bool = True,
           with_test: bool = True) -> tuple[str, str]:
    """Paths of the cleaned files, downloading first if allowed and needed.

    Args:
      data_dir, data_url: as `download`.
      download_if_missing: False: a missing or damaged file is an error.
      with_test: also adult.test (False: tuning on a validation split while
        the test file is withheld).

    Raises:
      UserError: a file is missing and `download_if_missing` is False.
    """
    names = (TRAINING_FILE, EVAL_FILE) if with_test else (TRAINING_FILE,)
    if not download_if_missing:
        damage = intact(data_dir, names)
        paths = [os.path.join(data_dir, n) for n in names]
        if damage is not None and not all(map(os.path.isfile, paths)):
            raise UserError(f"census files missing in {data_dir} and --nodownload_if_missing "
                            "is set")
        if damage is not None:
            raise UserError(f"census files in {data_dir} cannot be trusted ({damage}); run "
                            "without --nodownload_if_missing to fetch them again")
    return download(data_dir, data_url, with_test)


def load(path: str) -> pd.DataFrame:
    """Loads a cleaned census file (see `parse_clean` for the dtypes)."""
    if not os.path.isfile(path):
        raise DataError(f"{path} not found; run `python -m official.wide_deep.census_dataset "
                        f"--data_dir {os.path.dirname(path) or '.'}` first")
    with open(path, encoding="utf-8") as f:
        return parse_clean(f.read(), path)


def generate_frame(num_rows: int, seed: int = 0) -> pd.DataFrame:
    """Synthetic census rows with a planted rule, in the cleaned schema.

    The label is `>50K` with a probability that rises with education,
    marriage, age (up to 50), hours worked and capital gain, so that both the
    wide crosses and the deep numeric features carry signal (about 25%
    positives, as in the real data).
    """
    rng = np.random.default_rng(seed)
    age = rng.integers(17, 80, num_rows)
    edu_idx = rng.integers(0, len(EDUCATION), num_rows)
    education_num = np.array([13, 9, 7, 14, 5, 10, 12, 11, 4, 16, 15, 3, 6, 2, 1, 8])[edu_idx]
    marital = rng.choice(MARITAL_STATUS, num_rows, p=[.45, .14, .02, .3, .03, .01, .05])
    occupation = rng.choice(OCCUPATIONS, num_rows)
    hours = np.clip(rng.normal(40, 12, num_rows), 1, 99).astype(np.int64)
    gain = np.where(rng.random(num_rows) < 0.08, rng.integers(1000, 99999, num_rows), 0)
    score = (0.45 * (education_num - 10) + 1.6 * (marital == "Married-civ-spouse")
             + 0.05 * (np.minimum(age, 50) - 38) + 0.04 * (hours - 40)
             + 2.5 * (gain > 5000) + 0.8 * np.isin(occupation, ["Exec-managerial",
                                                                  "Prof-specialty"])
             - 2.2 + rng.normal(0, 0.7, num_rows))
    relationship = np.where(marital == "Married-civ-spouse",
                            rng.choice(["Husband", "Wife"], num_rows, p=[.85, .15]),
                            rng.choice(RELATIONSHIP[1:], num_rows))
    return pd.DataFrame({
        "age": age, "workclass": rng.choice(WORKCLASS, num_rows),
        "fnlwgt": rng.integers(12285, 1484705, num_rows),
        "education": np.array(EDUCATION)[edu_idx], "education_num": education_num,
        "marital_status": marital, "occupation": occupation, "relationship": relationship,
        "race": rng.choice(["White", "Black", "Asian-Pac-Islander", "Other"], num_rows),
        "gender": np.where(relationship == "Wife", "Female",
                           rng.choice(["Male", "Female"], num_rows)),
        "capital_gain": gain, "capital_loss": np.zeros(num_rows, np.int64),
        "hours_per_week": hours,
        "native_country": rng.choice(["United-States", "Mexico", "India", "?"], num_rows),
        LABEL_COLUMN: np.where(score > 0, ">50K", "<=50K"),
    })


def write_raw(df: pd.DataFrame, path: str, test_layout: bool) -> None:
    """Writes rows in the raw UCI layout (`, ` separators; adult.test quirks if asked)."""
    text_cols = df.astype(str)
    body = text_cols.iloc[:, 0].str.cat([text_cols[c] for c in text_cols.columns[1:]],
                                        sep=", ")  # vectorized, no per-row join
    if test_layout:
        body = body + "."
        text = "|1x3 Cross validator\n" + "\n".join(body) + "\n\n"
    else:
        text = "\n".join(body) + "\n\n"
    with atomic_io.atomic_write(path, "w", encoding="utf-8") as f:
        f.write(text)


def generate_synthetic(directory: str, num_train: int = 32561, num_test: int = 16281,
                       seed: int = 0) -> tuple[str, str]:
    """Writes raw `adult.data` / `adult.test` with a planted rule into `directory`.

    Serve `directory` as --data_url (a local path works) to run the whole
    download-and-clean path offline.
    """
    os.makedirs(directory, exist_ok=True)
    frame = generate_frame(num_train + num_test, seed)
    train_path = os.path.join(directory, TRAINING_FILE)
    test_path = os.path.join(directory, EVAL_FILE)
    write_raw(frame.iloc[:num_train], train_path, test_layout=False)
    write_raw(frame.iloc[num_train:], test_path, test_layout=True)
    return train_path, test_path


def define_dataset_flag(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Registers --dataset (adult or synthetic)."""
    flags_core.bind(flag_values).DEFINE_enum(
        "dataset", "adult", list(DATASETS), help=flags_core.help_wrap(
            "adult: UCI Census Income, downloaded from --data_url. synthetic: generated "
            "files of the same shape with a planted rule (offline; in <data_dir>/synthetic)."))


def define_census_flags(flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Registers --dataset, --data_dir and --data_url."""
    define_dataset_flag(flag_values)
    fd = flags_core.bind(flag_values)
    fd.DEFINE_string("data_dir", "/tmp/census_data",
                     help=flags_core.help_wrap("Directory for the cleaned census files."))
    fd.DEFINE_string("data_url", DEFAULT_DATA_URL,
                     help=flags_core.help_wrap("Base URL or directory holding adult.data and "
                                               "adult.test (a mirror, file:// URL or path)."))


def main(_) -> None:
    """Downloads and cleans the census files named by the flags."""
    fv = flags.FLAGS
    train, test = ensure_dataset(fv.data_dir, fv.dataset, fv.data_url)
    print(f"census: {train}, {test}")


def cli_main() -> None:
    """Console entry point (`official-census-dataset`): defines the flags, runs `main`."""
    from official.utils.misc import cli

    define_census_flags()
    cli.run(main, tensorflow=False)


if __name__ == "__main__":
    cli_main()
