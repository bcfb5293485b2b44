"""MovieLens for NCF: its ratings through the shared preparation, and their cache.

From `<data_dir>/<dataset>/ratings.csv` (any dataset of
`official.datasets.movielens`), vectorized:

1. keep users with at least `min_ratings` ratings (20, as in the paper);
2. map users and items to contiguous 0-based indices (sorted raw ids);
3. leave-one-out: each user's latest rating is the test positive. Ties in
   timestamp go to the row that comes later in ratings.csv (stable sort);
4. `num_eval_negatives` evaluation negatives per user: items the user never
   rated, sampled uniformly without replacement, deterministic for `seed`.

The result is cached under `<data_dir>/<dataset>/ncf-<key>/`, where the key
hashes the dataset manifest (or ratings.csv's size and mtime) and the
parameters; the directory is written atomically, the evaluation set through
`file_io` buffers.

`authors_split.read_ncf_split` reads the NCF authors' published split instead.
"""

import hashlib
import json
import os
import zipfile

import numpy as np
import pandas as pd
from absl import logging

from official.datasets import interactions_clean, movielens
from official.recommendation.data import implicit_data
from official.recommendation.data.implicit_data import NCFData
from official.utils.data import file_io
from official.utils.errors import DataError
from official.utils.misc import atomic_io, integrity

CACHE_VERSION = 3  # 3: content checksums, metadata checked against the arrays
MIN_RATINGS = 20


def preprocess(ratings: pd.DataFrame, num_eval_negatives: int = 100, seed: int = 0,
               min_ratings: int = MIN_RATINGS) -> NCFData:
    """Builds `NCFData` from a ratings frame (user_id, item_id, timestamp columns).

    MovieLens is one source of the shared preparation: its ratings go through
    `interactions_clean.clean` with the paper's filter (users with at least
    `min_ratings` ratings; every rating a positive), then `from_interactions`.

    Raises:
      DataError: no user has `min_ratings` ratings, or too few items.
    """
    user_codes, user_ids = pd.factorize(ratings[movielens.USER_COLUMN].to_numpy(), sort=True)
    item_codes, item_ids = pd.factorize(ratings[movielens.ITEM_COLUMN].to_numpy(), sort=True)
    counts = np.bincount(user_codes)
    if counts.max() < min_ratings:
        raise DataError(f"no user has at least {min_ratings} ratings "
                        f"({len(counts)} users, at most {counts.max()} ratings each)")
    data = interactions_clean.clean(
        user_codes, item_codes, np.asarray(user_ids, np.int64), np.asarray(item_ids, np.int64),
        times=ratings[movielens.TIMESTAMP_COLUMN].to_numpy().astype(np.int64),
        min_user=min_ratings, source="ratings.csv")
    return implicit_data.from_interactions(data, num_eval_negatives, seed)


# ----------------------------------------------------------------------------
# Cache.
# ----------------------------------------------------------------------------

def _source_key(data_dir: str, dataset: str) -> str:
    manifest = atomic_io.read_json(os.path.join(data_dir, dataset, movielens.MANIFEST_FILE))
    if manifest:
        return json.dumps({"files": manifest.get("files"), "md5": manifest.get("source_md5"),
                           "synthetic": manifest.get("synthetic")}, sort_keys=True)
    path = os.path.join(data_dir, dataset, movielens.RATINGS_FILE)
    st = os.stat(path)
    return f"{st.st_size}:{st.st_mtime_ns}"


def cache_dir(data_dir: str, dataset: str, num_eval_negatives: int, seed: int) -> str:
    """The cache directory for this source and these parameters."""
    params = json.dumps({"v": CACHE_VERSION, "neg": num_eval_negatives, "seed": seed,
                         "min": MIN_RATINGS, "src": _source_key(data_dir, dataset)},
                        sort_keys=True)
    key = hashlib.sha1(params.encode()).hexdigest()[:12]
    return os.path.join(data_dir, dataset, f"ncf-{key}")


def _load_cache(path: str) -> NCFData | None:
    """The cached data if the cache is complete, intact and consistent, else None."""
    if not os.path.isdir(path):
        return None
    meta = integrity.intact_meta(path, CACHE_VERSION, "NCF cache")
    if meta is None:
        return None
    try:
        with np.load(os.path.join(path, "train.npz")) as z:
            arrays = {k: z[k] for k in z.files}
        evaluation = file_io.read_all(os.path.join(path, "eval"))
        data = NCFData(num_users=meta["num_users"], num_items=meta["num_items"],
                       train_users=arrays["train_users"], train_items=arrays["train_items"],
                       eval_users=evaluation["user"], eval_items=evaluation["items"],
                       user_ids=arrays["user_ids"], item_ids=arrays["item_ids"],
                       train_times=arrays["train_times"])
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as e:
        logging.warning("NCF cache %s cannot be read (%s); rebuilding it", path, e)
        return None
    problem = _inconsistency(data, meta)
    if problem:
        logging.warning("NCF cache %s: %s; rebuilding it", path, problem)
        return None
    return data


def _inconsistency(data: NCFData, meta: dict) -> str | None:
    """What in the cached arrays disagrees with meta.json (or itself), else None."""
    checks = [
        (len(data.user_ids) == data.num_users, "num_users differs from the user id map"),
        (len(data.item_ids) == data.num_items, "num_items differs from the item id map"),
        (len(data.train_users) == len(data.train_items) == len(data.train_times)
         == meta.get("train_positives"), "training arrays disagree in length"),
        (len(data.eval_users) == len(data.eval_items), "evaluation arrays disagree"),
        (not len(data.train_users) or (data.train_users.min() >= 0
                                       and data.train_users.max() < data.num_users),
         "a training user is out of range"),
        (not len(data.train_items) or (data.train_items.min() >= 0
                                       and data.train_items.max() < data.num_items),
         "a training item is out of range"),
        (not data.eval_items.size or (data.eval_items.min() >= 0
                                      and data.eval_items.max() < data.num_items),
         "an evaluation item is out of range"),
    ]
    return next((what for ok, what in checks if not ok), None)


def _write_cache(path: str, data: NCFData) -> None:
    with atomic_io.atomic_directory(path) as tmp:
        np.savez(os.path.join(tmp, "train.npz"), train_users=data.train_users,
                 train_items=data.train_items, user_ids=data.user_ids, item_ids=data.item_ids,
                 train_times=data.train_times)
        frame = pd.DataFrame({"user": data.eval_users, "items": list(data.eval_items)})
        file_io.write_to_buffer(frame, os.path.join(tmp, "eval"), ["user", "items"])
        atomic_io.write_json(os.path.join(tmp, "meta.json"), {
            "version": CACHE_VERSION, "num_users": data.num_users,
            "num_items": data.num_items, "train_positives": int(len(data.train_users)),
            "files": integrity.describe(tmp, ["train.npz"])})


def load_movielens(data_dir: str, dataset: str, num_eval_negatives: int = 100,
                   seed: int = 0) -> NCFData:
    """Preprocessed NCF data for a normalized dataset, from cache when intact."""
    atomic_io.remove_stale_temporaries(os.path.join(data_dir, dataset))  # killed cache builds
    path = cache_dir(data_dir, dataset, num_eval_negatives, seed)
    data = _load_cache(path)
    if data is not None:
        logging.info("Using cached NCF data %s", path)
        return data
    logging.info("Preprocessing %s for NCF (cache: %s)", dataset, path)
    ratings = movielens.ratings_csv_to_dataframe(data_dir, dataset)
    data = preprocess(ratings, num_eval_negatives, seed)
    _write_cache(path, data)
    logging.info("NCF data: %d users, %d items, %d training positives, %d eval negatives "
                 "per user", data.num_users, data.num_items, len(data.train_users),
                 data.num_eval_negatives)
    return data
