"""MovieLens: the library API, the typed data source, its flags and the CLI.

    python -m official.datasets.movielens --dataset ml-1m --data_dir /tmp/movielens-data

Each dataset ends up as `<data_dir>/<dataset>/ratings.csv`
(`user_id,item_id,rating,timestamp`) and `<data_dir>/<dataset>/movies.csv`
(`item_id,titles,genres`), plus the verified `<dataset>.zip` and a
`manifest.json` written last. A dataset whose manifest matches its files is
complete: a second run does nothing. Every file is written under a temporary
name and renamed, so a killed run never leaves a file a later run accepts.

`synthetic` is generated locally (no network) in the CSV layout and then runs
through the same zip verification, extraction and normalization.

The work is in `movielens_download` (download, verify, extract, manifest),
`movielens_normalize` (raw layouts -> normalized CSVs) and
`movielens_loaders` (DataFrames, genres); this module re-exports their API.
"""

import dataclasses
import os

from absl import flags

from official.datasets import movielens_schema as schema
from official.datasets.movielens_download import (  # noqa: F401  (re-exported API)
    DEFAULT_DATA_URL,
    download,
    ensure,
    is_complete,
)
from official.datasets.movielens_loaders import (  # noqa: F401  (re-exported API)
    csv_to_joint_dataframe,
    genres_to_multi_hot,
    integerize_genres,
    movies_csv_to_dataframe,
    ratings_csv_to_dataframe,
)
from official.datasets.movielens_normalize import (  # noqa: F401  (re-exported API)
    normalize_genres,
    normalize_ratings,
    normalize_raw,
)
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
from official.utils.flags import core as flags_core


@dataclasses.dataclass(frozen=True)
class MovieLensSource:
    """Where a program's MovieLens dataset is, and whether it may be fetched.

    Attributes:
      dataset: one of `DATASETS`.
      data_dir: root data directory.
      data_url: base URL or directory of `<dataset>.zip`.
      synthetic: size and seed of `synthetic`.
      download_if_missing: download (or generate) it when it is not complete.
    """

    dataset: str
    data_dir: str
    data_url: str = DEFAULT_DATA_URL
    synthetic: SyntheticSpec = SyntheticSpec()
    download_if_missing: bool = True


def ensure_source(source: MovieLensSource) -> str:
    """`ensure` for a `MovieLensSource`: its dataset directory, fetched if needed."""
    return ensure(source.dataset, source.data_dir, source.data_url, source.synthetic,
                  source.download_if_missing)


def define_data_download_flags(data_dir: bool = True,
                               flag_values: flags.FlagValues = flags.FLAGS) -> None:
    """Registers --dataset, --data_url, --synthetic_* (and --data_dir)."""
    fd = flags_core.bind(flag_values)
    w = flags_core.help_wrap
    if data_dir:
        fd.DEFINE_string("data_dir", "/tmp/movielens-data",
                         help=w("Directory to download and normalize data into."))
    fd.DEFINE_enum("dataset", None, DATASETS, case_sensitive=False,
                   help=w("MovieLens dataset. `synthetic` is generated locally (no network)."))
    fd.DEFINE_string("data_url", DEFAULT_DATA_URL,
                     help=w("Base URL or directory holding <dataset>.zip (and "
                            "<dataset>.zip.md5): a mirror, a file:// URL or a local path for "
                            "air-gapped copies."))
    fd.DEFINE_integer("synthetic_users", SyntheticSpec.num_users, lower_bound=1,
                      help="Users in the synthetic dataset.")
    fd.DEFINE_integer("synthetic_items", SyntheticSpec.num_items, lower_bound=40,
                      help="Items in the synthetic dataset.")
    fd.DEFINE_integer("synthetic_ratings", SyntheticSpec.num_ratings, lower_bound=20,
                      help="Ratings in the synthetic dataset (>= 20 per user).")
    fd.DEFINE_integer("synthetic_seed", 0, help="Seed of the synthetic dataset.")


def source_from_flags(fv, dataset: str | None = None) -> MovieLensSource:
    """The `MovieLensSource` of parsed flags (or settings with the same names), for `main`s."""
    return MovieLensSource(
        dataset or fv.dataset, fv.data_dir, fv.data_url,
        SyntheticSpec(fv.synthetic_users, fv.synthetic_items, fv.synthetic_ratings,
                      fv.synthetic_seed),
        getattr(fv, "download_if_missing", True))


def main(_: list[str]) -> None:
    """Downloads and normalizes the datasets named by the flags."""
    fv = flags.FLAGS
    for name in [fv.dataset] if fv.dataset else schema.DEFAULT_DATASETS:
        source = source_from_flags(fv, name)
        path = download(name, source.data_dir, source.data_url, source.synthetic,
                        force=fv.force)
        print(f"{name}: {os.path.join(path, RATINGS_FILE)}, {os.path.join(path, MOVIES_FILE)}")


def cli_main() -> None:
    """Console entry point (`official-movielens`): defines the flags, runs `main`."""
    from official.utils.misc import cli

    define_data_download_flags()
    flags.DEFINE_boolean("force", False, help="Normalize again even if complete files exist.")
    cli.run(main, tensorflow=False)


if __name__ == "__main__":
    cli_main()
