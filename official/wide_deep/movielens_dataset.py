"""Features of the MovieLens rating regressor, written once through file_io buffers.

From `official.datasets.movielens` (any dataset): each rating becomes
  user: int32 index of the raw user id (ids sorted), item: int32 likewise,
  genres: float32 [19] multi-hot over `movielens.GENRES`,
  timestamp: float32, standardized with the training split's mean and std,
  label: float32 rating / 5.
The split is 80/20 at random with a fixed seed (the 20% is the test set);
`validation_fraction` of the 80% is held out as a validation set for
selection. Each part goes to a file_io buffer under
`<data_dir>/<dataset>/wide_deep-buffers/`, reused while the data is
unchanged. Timestamp statistics and the mean label come from the training
part only.
"""

import dataclasses
import os

import numpy as np
import pandas as pd

from official.datasets import movielens
from official.utils.data import file_io

COLUMNS = ["user", "item", "genres", "timestamp", "label"]


@dataclasses.dataclass
class RatingData:
    """Buffers and the facts the model and the export need."""

    train_buffer: str
    eval_buffer: str
    validation_buffer: str | None
    user_ids: np.ndarray  # int64 raw id of each user index
    item_ids: np.ndarray  # int64 raw id of each item index
    timestamp_mean: float
    timestamp_std: float
    train_label_mean: float
    num_train: int
    train_users: np.ndarray  # int32 [num_train] user index of each training rating
    train_items: np.ndarray  # int32 [num_train] item index of each training rating


def build(data_dir: str, dataset: str, seed: int = 0, validation_fraction: float = 0.0
          ) -> RatingData:
    """Builds (or reuses) the train / validation / test buffers of a normalized dataset."""
    df = movielens.csv_to_joint_dataframe(data_dir, dataset)
    user_idx, user_ids = pd.factorize(df[movielens.USER_COLUMN].to_numpy(), sort=True)
    item_idx, item_ids = pd.factorize(df[movielens.ITEM_COLUMN].to_numpy(), sort=True)
    genres = movielens.genres_to_multi_hot(df[movielens.GENRE_COLUMN]).astype(np.float32)
    times = df[movielens.TIMESTAMP_COLUMN].to_numpy(np.float64)
    labels = (df[movielens.RATING_COLUMN].to_numpy(np.float32) / movielens.schema.MAX_RATING)
    order = np.random.default_rng(seed).permutation(len(df))
    cut = int(round(0.8 * len(df)))
    train, test = order[:cut], order[cut:]
    held = int(round(validation_fraction * len(train)))
    valid, train = train[:held], train[held:]
    mean, std = float(times[train].mean()), float(times[train].std() or 1.0)
    frame = pd.DataFrame({
        "user": user_idx.astype(np.int32), "item": item_idx.astype(np.int32),
        "genres": list(genres), "timestamp": ((times - mean) / std).astype(np.float32),
        "label": labels.astype(np.float32)})
    root = os.path.join(data_dir, dataset, "wide_deep-buffers")
    train_buffer = file_io.write_to_buffer(frame.iloc[train], os.path.join(root, "train"),
                                           COLUMNS)
    eval_buffer = file_io.write_to_buffer(frame.iloc[test], os.path.join(root, "eval"),
                                          COLUMNS)
    valid_buffer = file_io.write_to_buffer(
        frame.iloc[valid], os.path.join(root, "validation"), COLUMNS) if held else None
    return RatingData(train_buffer, eval_buffer, valid_buffer, user_ids.astype(np.int64),
                      item_ids.astype(np.int64), mean, std, float(labels[train].mean()),
                      len(train), user_idx[train].astype(np.int32),
                      item_idx[train].astype(np.int32))
