"""Loaders of normalized MovieLens files, and genre multi-hot encoding."""

import os

import numpy as np
import pandas as pd

from official.datasets.movielens_schema import (
    GENRE_COLUMN,
    GENRES,
    ITEM_COLUMN,
    MOVIES_FILE,
    RATING_COLUMN,
    RATINGS_FILE,
    TIMESTAMP_COLUMN,
    TITLE_COLUMN,
    USER_COLUMN,
)
from official.utils.errors import DataError

_RATINGS_DTYPES = {USER_COLUMN: np.int32, ITEM_COLUMN: np.int32,
                   RATING_COLUMN: np.float32, TIMESTAMP_COLUMN: np.int64}


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

