"""Synthetic MovieLens: planted preferences, written in GroupLens raw layouts.

The generator is a small latent-factor model, vectorized over all ratings:

* items have power-law popularity (Zipf-like, exponent `popularity_exponent`)
  and belong to one of `num_clusters` taste clusters; a cluster has a primary
  genre, so genres carry signal;
* a user has a primary and a secondary cluster with weights `w` and `1 - w`
  (the user's latent factor); each rating is drawn from the primary cluster,
  the secondary cluster or the global popularity distribution;
* the star rating grows with the user's affinity to the item's cluster, plus
  user and item biases and noise;
* every user has at least 20 ratings, counts are heavy-tailed, timestamps
  are spread over a few years.

The same seed gives the same data. `write_raw_layout` writes the frames as
the files a GroupLens zip holds (ml-1m `.dat`, ml-100k `u.data`/`u.item`, or
the CSV layout of ml-20m / ml-25m / ml-latest-small), so that download,
verification and normalization all run on it.
"""

import dataclasses
import os
import zipfile

import numpy as np
import pandas as pd

from official.datasets import movielens_schema as schema
from official.utils.misc import array_ops, atomic_io

MIN_RATINGS_PER_USER = 20
_FIRST_TIMESTAMP = 956_703_932  # 2000-04-25, the first ml-1m rating.
_SPAN_SECONDS = 3 * 365 * 86_400
_CLUSTER_SHARE = 0.8  # Share of draws from the user's own clusters.
_UNIFORM_SHARE = 0.05  # Share of draws uniform over all items.


@dataclasses.dataclass(frozen=True)
class SyntheticSpec:
    """Size and seed of a synthetic MovieLens dataset (default: ml-1m size)."""

    num_users: int = 6040
    num_items: int = 3706
    num_ratings: int = 1_000_000
    seed: int = 0

    def validate(self) -> None:
        """Raises ValueError naming the bad field."""
        if self.num_users < 1:
            raise ValueError(f"num_users must be >= 1, got {self.num_users}")
        if self.num_items < 2 * MIN_RATINGS_PER_USER:
            raise ValueError(
                f"num_items must be >= {2 * MIN_RATINGS_PER_USER}, got {self.num_items}")
        if self.num_ratings < MIN_RATINGS_PER_USER * self.num_users:
            raise ValueError(
                f"num_ratings must be >= {MIN_RATINGS_PER_USER} * num_users = "
                f"{MIN_RATINGS_PER_USER * self.num_users}, got {self.num_ratings}")
        if self.num_ratings > self.num_users * self.num_items // 2:
            raise ValueError(
                f"num_ratings {self.num_ratings} exceeds half of num_users * num_items")


def _user_counts(rng: np.random.Generator, spec: SyntheticSpec) -> np.ndarray:
    """Heavy-tailed ratings per user, each >= 20, summing to num_ratings."""
    cap = spec.num_items // 2
    extra_total = spec.num_ratings - MIN_RATINGS_PER_USER * spec.num_users
    weights = rng.lognormal(0.0, 1.2, spec.num_users)
    counts = np.full(spec.num_users, MIN_RATINGS_PER_USER, dtype=np.int64)
    for _ in range(20):  # Redistribute what the cap cuts off; converges fast.
        remaining = extra_total - (counts.sum() - MIN_RATINGS_PER_USER * spec.num_users)
        open_users = counts < cap
        if remaining <= 0 or not open_users.any():
            break
        w = np.where(open_users, weights, 0.0)
        add = np.floor(w / w.sum() * remaining).astype(np.int64)
        counts = np.minimum(counts + add, cap)
        if add.sum() == 0:
            break
    short = spec.num_ratings - counts.sum()
    if short > 0:  # Rounding left-overs, one each to users below the cap.
        room = np.flatnonzero(counts < cap)[:short]
        counts[room] += 1
    return counts


def _inverse_cdf_sample(rng: np.random.Generator, cdf: np.ndarray, n: int) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, rng.random(n) * cdf[-1], side="right"),
                      len(cdf) - 1)


def _item_probabilities(users: np.ndarray, item_cluster: np.ndarray, popularity: np.ndarray,
                        primary: np.ndarray, secondary: np.ndarray, weight: np.ndarray,
                        num_clusters: int) -> np.ndarray:
    """p(item | user) of the mixture, shape [len(users), num_items], float64."""
    cluster_mass = np.bincount(item_cluster, weights=popularity, minlength=num_clusters)
    within = popularity / cluster_mass[item_cluster]  # p(item | its cluster)
    glob = popularity / popularity.sum()
    w = weight[users, None] * (_CLUSTER_SHARE * (1 - _UNIFORM_SHARE))
    v = (1 - weight[users, None]) * (_CLUSTER_SHARE * (1 - _UNIFORM_SHARE))
    p = (w * (item_cluster[None, :] == primary[users, None])
         + v * (item_cluster[None, :] == secondary[users, None])) * within[None, :]
    p += (1 - _CLUSTER_SHARE) * (1 - _UNIFORM_SHARE) * glob[None, :]
    p += _UNIFORM_SHARE / len(popularity)
    return p


def _gumbel_top_k(rng: np.random.Generator, users: np.ndarray, counts: np.ndarray,
                  prob_fn, n_items: int) -> np.ndarray:
    """Exact weighted sampling without replacement (Gumbel-top-k), chunked by user.

    Returns:
      Keys `user * n_items + item`, int64.
    """
    out = []
    chunk = max(1, 50_000_000 // n_items)
    for lo in range(0, users.size, chunk):
        u = users[lo:lo + chunk]
        keys = np.log(prob_fn(u)) + rng.gumbel(size=(u.size, n_items))
        order = np.argsort(-keys, axis=1)
        take = np.arange(n_items)[None, :] < counts[u][:, None]
        rows = np.broadcast_to(u[:, None], order.shape)
        out.append(rows[take] * n_items + order[take])
    return np.concatenate(out) if out else np.empty(0, dtype=np.int64)


def _sample_pairs(rng: np.random.Generator, spec: SyntheticSpec, counts: np.ndarray,
                  item_cluster: np.ndarray, popularity: np.ndarray,
                  primary: np.ndarray, secondary: np.ndarray, weight: np.ndarray,
                  num_clusters: int) -> tuple[np.ndarray, np.ndarray]:
    """Draws distinct (user, item) pairs, `counts[u]` for user u.

    Heavy users (more than 5% of the catalogue) use exact Gumbel-top-k over all
    items; the rest use vectorized draw-and-reject rounds, which converge in a
    few rounds because they need few distinct items.
    """
    n_items = spec.num_items

    def prob_fn(users):
        return _item_probabilities(users, item_cluster, popularity, primary, secondary,
                                   weight, num_clusters)

    heavy = counts > n_items // 20
    heavy_keys = _gumbel_top_k(rng, np.flatnonzero(heavy), counts, prob_fn, n_items)

    global_cdf = np.cumsum(popularity)
    cluster_items = [np.flatnonzero(item_cluster == c) for c in range(num_clusters)]
    cluster_cdfs = [np.cumsum(popularity[items]) for items in cluster_items]
    accepted = []
    deficit = np.where(heavy, 0, counts)
    taken = np.empty(0, dtype=np.int64)  # Sorted keys accepted so far.
    for _ in range(100):
        need = np.flatnonzero(deficit > 0)
        if need.size == 0:
            break
        users = np.repeat(need, np.ceil(deficit[need] * 1.3).astype(np.int64) + 2)
        n = users.size
        items = np.empty(n, dtype=np.int64)
        r = rng.random(n)
        p_primary = weight[users] * _CLUSTER_SHARE * (1 - _UNIFORM_SHARE)
        p_secondary = (1 - weight[users]) * _CLUSTER_SHARE * (1 - _UNIFORM_SHARE)
        source = np.where(r < p_primary, primary[users],
                          np.where(r < p_primary + p_secondary, secondary[users], -1))
        source[r >= 1 - _UNIFORM_SHARE] = -2
        for c in range(num_clusters):
            sel = np.flatnonzero(source == c)
            items[sel] = cluster_items[c][_inverse_cdf_sample(rng, cluster_cdfs[c], sel.size)]
        sel = np.flatnonzero(source == -1)
        items[sel] = _inverse_cdf_sample(rng, global_cdf, sel.size)
        sel = np.flatnonzero(source == -2)
        items[sel] = rng.integers(0, n_items, sel.size)

        keys = users * n_items + items
        keys = keys[~array_ops.isin_sorted(keys, taken)]
        keys, first = np.unique(keys, return_index=True)
        keys = keys[np.argsort(first, kind="stable")]  # Back to random draw order.
        key_users = keys // n_items
        order = np.argsort(key_users, kind="stable")
        keys, key_users = keys[order], key_users[order]
        rank = np.arange(keys.size) - np.searchsorted(key_users, key_users, side="left")
        keep = rank < deficit[key_users]
        keys = keys[keep]
        deficit -= np.bincount(key_users[keep], minlength=deficit.size)
        accepted.append(keys)
        taken = np.sort(np.concatenate([taken, keys]))
    if (deficit > 0).any():
        raise RuntimeError("synthetic sampler did not converge")
    keys = np.sort(np.concatenate([heavy_keys, *accepted]))
    return keys // n_items, keys % n_items


def generate_frames(spec: SyntheticSpec = SyntheticSpec()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Generates synthetic ratings and movies with GroupLens raw ids.

    Args:
      spec: sizes and seed.

    Returns:
      ratings: columns user_id (int64, 1-based), item_id (int64, with gaps like
        real MovieLens), rating (int64, 1..5), timestamp (int64, Unix seconds);
        sorted by user then item; `spec.num_ratings` rows.
      movies: columns item_id (int64), titles (str, some with commas and
        latin-1 accents), genres (str, `|`-joined, raw GroupLens naming
        "Children's" for the CSV-free layouts is applied by the writers).
    """
    spec.validate()
    rng = np.random.default_rng(spec.seed)
    num_clusters = 8
    n_users, n_items = spec.num_users, spec.num_items

    popularity = (rng.permutation(n_items) + 1.0) ** -0.9
    item_cluster = rng.integers(0, num_clusters, n_items)
    primary = rng.integers(0, num_clusters, n_users)
    secondary = (primary + rng.integers(1, num_clusters, n_users)) % num_clusters
    weight = rng.beta(4.0, 1.5, n_users)

    counts = _user_counts(rng, spec)
    users, items = _sample_pairs(rng, spec, counts, item_cluster, popularity,
                                 primary, secondary, weight, num_clusters)

    affinity = np.where(item_cluster[items] == primary[users], weight[users],
                        np.where(item_cluster[items] == secondary[users],
                                 1 - weight[users], 0.0))
    log_pop = np.log(popularity)
    item_bias = 0.4 * (log_pop - log_pop.mean()) / log_pop.std()
    user_bias = rng.normal(0.0, 0.4, n_users)
    stars = (2.6 + 2.0 * affinity + user_bias[users] + item_bias[items]
             + rng.normal(0.0, 0.6, users.size))
    stars = np.clip(np.rint(stars), 1, 5).astype(np.int64)

    start = _FIRST_TIMESTAMP + rng.integers(0, _SPAN_SECONDS, n_users)
    span = rng.exponential(200 * 86_400, n_users).astype(np.int64) + 3_600
    timestamps = start[users] + (rng.random(users.size) ** 2 * span[users]).astype(np.int64)

    raw_item_ids = np.sort(rng.choice(int(n_items * 1.07) + 1, n_items, replace=False)) + 1
    ratings = pd.DataFrame({
        schema.USER_COLUMN: users + 1,
        schema.ITEM_COLUMN: raw_item_ids[items],
        schema.RATING_COLUMN: stars,
        schema.TIMESTAMP_COLUMN: timestamps,
    })

    years = rng.integers(1920, 2004, n_items).astype(str)
    ids = raw_item_ids.astype(str)
    titles = pd.Series(np.char.add(np.char.add("Synthetic Movie ", ids), "")).astype(object)
    comma = np.arange(n_items) % 7 == 3
    accent = np.arange(n_items) % 11 == 5
    titles[comma] = "Movie " + pd.Series(ids[comma]) .values + ", The"
    titles[accent] = "Misérables " + pd.Series(ids[accent]).values + ", Les"
    titles = titles + " (" + years + ")"

    genre_names = np.array(schema.GENRES, dtype=object)
    cluster_genre = rng.permutation(schema.N_GENRE)[:num_clusters]
    main_genre = genre_names[cluster_genre[item_cluster]]
    extra = genre_names[rng.integers(0, schema.N_GENRE, n_items)]
    has_extra = (rng.random(n_items) < 0.35) & (extra != main_genre)
    genres = np.where(has_extra, main_genre + "|" + extra, main_genre)
    genres = np.where(rng.random(n_items) < 0.01, schema.NO_GENRE, genres)
    movies = pd.DataFrame({
        schema.ITEM_COLUMN: raw_item_ids,
        schema.TITLE_COLUMN: titles.values,
        schema.GENRE_COLUMN: genres,
    })
    return ratings, movies


def _raw_genres(genres: pd.Series) -> pd.Series:
    """Genre strings in the 1990s GroupLens naming (ml-1m / ml-100k)."""
    return genres.str.replace("Children", "Children's", regex=False)


def write_raw_layout(ratings: pd.DataFrame, movies: pd.DataFrame, directory: str,
                     layout: str) -> list[str]:
    """Writes frames as the raw files of a GroupLens zip of the given layout.

    Args:
      ratings: as returned by `generate_frames`.
      movies: as returned by `generate_frames`.
      directory: existing directory that receives the files.
      layout: one of `schema.LAYOUT_CSV`, `schema.LAYOUT_DAT`, `schema.LAYOUT_100K`.

    Returns:
      The names of the files written, relative to `directory`.
    """
    cols = schema.RATING_COLUMNS
    if layout == schema.LAYOUT_CSV:
        ratings.to_csv(os.path.join(directory, "ratings.csv"), index=False,
                       header=["userId", "movieId", "rating", "timestamp"], columns=cols)
        movies.to_csv(os.path.join(directory, "movies.csv"), index=False,
                      header=["movieId", "title", "genres"], encoding="utf-8")
        return ["ratings.csv", "movies.csv"]
    if layout == schema.LAYOUT_DAT:
        text = ratings.to_csv(index=False, header=False, sep="\t", columns=cols)
        with open(os.path.join(directory, "ratings.dat"), "w", encoding="latin-1") as f:
            f.write(text.replace("\t", "::"))
        lines = (movies[schema.ITEM_COLUMN].astype(str) + "::" + movies[schema.TITLE_COLUMN]
                 + "::" + _raw_genres(movies[schema.GENRE_COLUMN].astype(str)))
        with open(os.path.join(directory, "movies.dat"), "w", encoding="latin-1") as f:
            f.write("\n".join(lines) + "\n")
        return ["ratings.dat", "movies.dat"]
    if layout == schema.LAYOUT_100K:
        ratings.to_csv(os.path.join(directory, "u.data"), index=False, header=False,
                       sep="\t", columns=cols)
        raw = _raw_genres(movies[schema.GENRE_COLUMN].astype(str))
        raw = raw.where(raw != schema.NO_GENRE, "unknown")
        flags = raw.str.get_dummies(sep="|").reindex(columns=schema.ML_100K_GENRES,
                                                     fill_value=0)
        item = pd.DataFrame({
            "id": movies[schema.ITEM_COLUMN], "title": movies[schema.TITLE_COLUMN],
            "release": "01-Jan-1995", "video": "", "url": "http://example.invalid/",
        })
        item = pd.concat([item, flags.astype(np.int64).set_axis(range(19), axis=1)], axis=1)
        item.to_csv(os.path.join(directory, "u.item"), index=False, header=False, sep="|",
                    encoding="latin-1", quoting=3)
        with open(os.path.join(directory, "u.genre"), "w", encoding="latin-1") as f:
            f.write("".join(f"{g}|{i}\n" for i, g in enumerate(schema.ML_100K_GENRES)) + "\n")
        return ["u.data", "u.item", "u.genre"]
    raise ValueError(f"unknown layout {layout!r}")


def write_zip(directory: str, names: list[str], zip_path: str, arcroot: str) -> None:
    """Zips `directory/<name>` as `<arcroot>/<name>` into `zip_path`, atomically."""
    with atomic_io.atomic_write(zip_path, "wb") as f, \
            zipfile.ZipFile(f, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for name in names:
            zf.write(os.path.join(directory, name), f"{arcroot}/{name}")


def generate_synthetic(directory: str, spec: SyntheticSpec = SyntheticSpec(),
                       layout: str = schema.LAYOUT_CSV) -> list[str]:
    """Generates a synthetic dataset and writes its raw files into `directory`.

    Args:
      directory: receives the raw files (created if missing).
      spec: sizes and seed; the default is ml-1m sized (6,040 users, 3,706
        items, 1,000,000 ratings).
      layout: raw layout to write (default: the CSV layout of ml-20m).

    Returns:
      Names of the files written.
    """
    os.makedirs(directory, exist_ok=True)
    ratings, movies = generate_frames(spec)
    return write_raw_layout(ratings, movies, directory, layout)
