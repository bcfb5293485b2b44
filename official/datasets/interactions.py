"""Your own interaction log: options, preparation, cache, dataset card, flags and the CLI.

    python -m official.datasets.interactions --interactions plays.csv
        --user_column userID --item_column artistID --weight_column weight
        --min_user_interactions 3 --data_dir /tmp/own-data

(one command, split over lines here)

reads the log (`interactions_read`: CSV / TSV / .gz / Parquet), keeps its
positives (`interactions_clean`: rating filter, duplicates, k-core), caches
the result under `<data_dir>/interactions/<file stem>-<key>/` (the key
hashes the file's bytes, the items file's and the options; written
atomically, checksummed, rebuilt when damaged) and prints the dataset card,
also written there as `card.json`.
"""

import dataclasses
import hashlib
import json
import os
import re
import zipfile

import numpy as np
from absl import flags, logging

from official.datasets.interactions_clean import Interactions, card_lines, clean
from official.utils.errors import DataError
from official.utils.misc import atomic_io, integrity

CACHE_VERSION = 1
CACHE_ROOT = "interactions"


@dataclasses.dataclass(frozen=True)
class InteractionOptions:
    """How to read and filter one log (the --interactions flags).

    Attributes:
      path: the log (CSV, TSV, optionally .gz, or Parquet).
      user_column, item_column: id columns (ids kept as the file writes them).
      rating_column, min_rating: positives are rows with rating >= min_rating.
      timestamp_column: Unix seconds or ISO-8601 dates (detected).
      weight_column: a count (plays, clicks) summed per pair.
      delimiter: CSV delimiter (None: detected from the header).
      items_path, item_title_column: an items file with titles.
      min_user_interactions, min_item_interactions: the k-core's minimums.
    """

    path: str
    user_column: str = "user_id"
    item_column: str = "item_id"
    rating_column: str | None = None
    min_rating: float | None = None
    timestamp_column: str | None = None
    weight_column: str | None = None
    delimiter: str | None = None
    items_path: str | None = None
    item_title_column: str | None = None
    min_user_interactions: int = 1
    min_item_interactions: int = 1


def read_log(options: InteractionOptions) -> Interactions:
    """Reads and cleans the log (no cache). Raises DataError for bad input."""
    from official.datasets import interactions_read as read  # pyarrow: only when reading

    o = options
    wanted = {"user": o.user_column, "item": o.item_column}
    for role, name in (("rating", o.rating_column), ("time", o.timestamp_column),
                       ("weight", o.weight_column)):
        if name:
            wanted[role] = name
    table = read.read_table(o.path, wanted, o.delimiter)
    header = 0 if read.is_parquet(o.path) else 1
    user_codes, user_ids = read.ids(o.path, o.user_column, table["user"], header)
    item_codes, item_ids = read.ids(o.path, o.item_column, table["item"], header)
    rating = (read.numbers(o.path, o.rating_column, table["rating"], header, "rating")
              if o.rating_column else None)
    times, time_format = (read.timestamps(o.path, o.timestamp_column, table["time"], header)
                          if o.timestamp_column else (None, "none"))
    weight = (read.numbers(o.path, o.weight_column, table["weight"], header, "weight")
              if o.weight_column else None)
    del table
    data = clean(user_codes, item_codes, _text_or_int(user_ids), _text_or_int(item_ids),
                 rating=rating, min_rating=o.min_rating, times=times, weight=weight,
                 min_user=o.min_user_interactions, min_item=o.min_item_interactions,
                 source=o.path)
    data.card["timestamps"] = time_format
    if o.items_path:
        data.titles = item_titles(o, data.item_ids)
        data.card["items_with_titles"] = int((data.titles != "").sum())
    return data


def _text_or_int(ids: np.ndarray) -> np.ndarray:
    return ids if ids.dtype.kind == "i" else ids.astype(str)


def item_titles(options: InteractionOptions, item_ids: np.ndarray) -> np.ndarray:
    """Str [I] title of each item id ("" where the items file has none).

    The items file's id column is --item_column, or else its first column.

    Raises:
      DataError: no title column, or no id of the file matches an interaction's.
    """
    from official.datasets import interactions_read as read

    o = options
    if not o.item_title_column:
        raise DataError("--items needs --item_title_column (the column of titles)")
    names, _ = ((read.pq.read_schema(o.items_path).names, None) if read.is_parquet(o.items_path)
                else read.header_and_delimiter(o.items_path, None))
    id_column = o.item_column if o.item_column in names else names[0]
    table = read.read_table(o.items_path, {"id": id_column, "title": o.item_title_column})
    codes, ids = read.ids(o.items_path, id_column, table["id"], 1)
    ids = _text_or_int(ids)
    titles = np.asarray(table["title"].to_numpy(zero_copy_only=False), object)
    titles = np.where(titles == None, "", titles).astype(str)  # noqa: E711 (elementwise)
    if ids.dtype.kind != item_ids.dtype.kind:  # ints on one side, text on the other
        ids, item_ids = ids.astype(str), item_ids.astype(str)
    found = np.searchsorted(ids, item_ids)
    found = np.minimum(found, len(ids) - 1)
    match = ids[found] == item_ids
    if not match.any():
        raise DataError(f"{o.items_path}: none of its ids (column {id_column!r}) is an item "
                        f"of {o.path}")
    by_code = np.full(len(ids), "", object)
    by_code[codes] = titles  # the last title of an id wins
    return np.where(match, by_code[found], "").astype(str)


# ----------------------------------------------------------------------------
# Cache.
# ----------------------------------------------------------------------------

def cache_dir(options: InteractionOptions, data_dir: str) -> str:
    """`<data_dir>/interactions/<stem>-<key>`: the key hashes the files' bytes and options."""
    fields = {k: v for k, v in dataclasses.asdict(options).items()
              if k not in ("path", "items_path")}
    try:
        files = [integrity.crc32c_of(p) for p in (options.path, options.items_path) if p]
    except OSError as e:
        raise DataError(f"cannot read {e.filename}: {e.strerror}") from e
    key = hashlib.sha1(json.dumps({"v": CACHE_VERSION, "options": fields, "files": files},
                                  sort_keys=True).encode()).hexdigest()[:12]
    stem = re.sub(r"[^A-Za-z0-9_.-]", "_", os.path.basename(options.path).split(".")[0])
    return os.path.join(data_dir, CACHE_ROOT, f"{stem or 'log'}-{key}")


ARRAYS = ("users", "items", "times", "order", "weights", "user_ids", "item_ids")


def _write(path: str, data: Interactions) -> None:
    with atomic_io.atomic_directory(path) as tmp:
        arrays = {k: getattr(data, k) for k in ARRAYS}
        if data.titles is not None:
            arrays["titles"] = data.titles
        np.savez(os.path.join(tmp, "arrays.npz"), **arrays)
        atomic_io.write_json(os.path.join(tmp, "card.json"), data.card)
        atomic_io.write_json(os.path.join(tmp, "meta.json"), {
            "version": CACHE_VERSION, "positives": int(len(data.users)),
            "files": integrity.describe(tmp, ["arrays.npz", "card.json"])})


def _load(path: str) -> Interactions | None:
    """The cached data if complete, intact and consistent, else None."""
    meta = integrity.intact_meta(path, CACHE_VERSION, "interactions cache")
    if meta is None:
        return None
    try:
        with np.load(os.path.join(path, "arrays.npz")) as z:
            arrays = {k: z[k] for k in z.files}
        data = Interactions(**{k: arrays[k] for k in ARRAYS}, titles=arrays.get("titles"),
                            card=atomic_io.read_json(os.path.join(path, "card.json")))
    except (OSError, ValueError, KeyError, TypeError, zipfile.BadZipFile) as e:
        logging.warning("interactions cache %s cannot be read (%s); rebuilding it", path, e)
        return None
    n = meta.get("positives")
    ok = (all(len(a) == n for a in (data.users, data.items, data.times, data.weights))
          and (not n or (data.users.max() < data.num_users
                         and data.items.max() < data.num_items)))
    return data if ok and isinstance(data.card, dict) else None


def prepare(options: InteractionOptions, data_dir: str) -> Interactions:
    """The prepared log, from `data_dir`'s cache when intact; its card is logged."""
    path = cache_dir(options, data_dir)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    atomic_io.remove_stale_temporaries(os.path.dirname(path))
    data = _load(path) if os.path.isdir(path) else None
    if data is None:
        logging.info("Preparing %s (cache: %s)", options.path, path)
        data = read_log(options)
        try:
            _write(path, data)
        except OSError as e:
            raise DataError(f"cannot write the interactions cache {path}: "
                            f"{e.strerror or e}") from e
    else:
        logging.info("Using the prepared %s from %s", options.path, path)
    data.card["cache"] = path
    for line in card_lines(data.card):
        logging.info("Interactions: %s", line)
    return data


# ----------------------------------------------------------------------------
# Flags and the CLI.
# ----------------------------------------------------------------------------

def define_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """--interactions and the flags that say how to read it, in `fv`."""
    def fd(name, default, text):
        flags.DEFINE_string(name, default, text, flag_values=fv)

    fd("interactions", None, "Your own interaction log (CSV, TSV, optionally .gz, or Parquet) "
       "with one row per interaction; see docs/own_data.md.")
    fd("delimiter", None, "CSV delimiter of --interactions (default: detected from the "
       "header among , tab ; |).")
    fd("user_column", "user_id", "Column of user ids (kept as the text the file holds).")
    fd("item_column", "item_id", "Column of item ids (also the id column of --items).")
    fd("rating_column", None, "Column of ratings; with --min_rating only rows rated at least "
       "that are positives (without: every row is a positive).")
    flags.DEFINE_float("min_rating", None, "Positives are rows whose --rating_column is >= "
                       "this.", flag_values=fv)
    fd("timestamp_column", None, "Column of times: Unix seconds or ISO-8601 dates "
       "(detected). Without it, splits pick held-out items at random (seeded).")
    fd("weight_column", None, "Column of counts (plays, clicks), summed per pair: iALS's "
       "confidence; other models treat any positive as 1.")
    fd("items", None, "Items file with titles, for recommend and serve (its id column is "
       "--item_column, or else its first column).")
    fd("item_title_column", None, "Column of titles in --items.")
    flags.DEFINE_integer("min_user_interactions", 1, "Drop users with fewer positives "
                         "(applied with --min_item_interactions until neither drops anything).",
                         lower_bound=1, flag_values=fv)
    flags.DEFINE_integer("min_item_interactions", 1, "Drop items with fewer positives (see "
                         "--min_user_interactions).", lower_bound=1, flag_values=fv)
    flags.register_multi_flags_validator(
        ["min_rating", "rating_column"],
        lambda f: f["min_rating"] is None or f["rating_column"] is not None,
        message="--min_rating needs --rating_column", flag_values=fv)


def options_from_flags(settings) -> InteractionOptions | None:
    """The `InteractionOptions` of parsed flag values (a mapping), None without --interactions."""
    s = settings
    if not s["interactions"]:
        return None
    delimiter = s["delimiter"]
    if delimiter in ("\\t", "tab"):
        delimiter = "\t"
    return InteractionOptions(
        s["interactions"], s["user_column"], s["item_column"], s["rating_column"],
        s["min_rating"], s["timestamp_column"], s["weight_column"], delimiter, s["items"],
        s["item_title_column"], s["min_user_interactions"], s["min_item_interactions"])


def main(argv) -> None:
    """Prepares --interactions into --data_dir and prints its dataset card as JSON."""
    del argv
    fv = flags.FLAGS
    options = options_from_flags(fv.flag_values_dict())
    if options is None:
        raise DataError("--interactions is required: the log to prepare")
    data = prepare(options, fv.data_dir)  # logs the card in two lines
    print(json.dumps(data.card, indent=2, sort_keys=True))


def cli_main() -> None:
    """Console entry point (`official-interactions`): defines the flags, runs `main`."""
    from official.utils.misc import cli

    define_flags()
    flags.DEFINE_string("data_dir", "/tmp/interactions-data", "Where the prepared log is cached.")
    cli.run(main, tensorflow=False)


if __name__ == "__main__":
    cli_main()
