"""Top-K movie recommendations from an exported NCF model.

    python -m official.recommendation.recommend --export_dir /tmp/ncf_export --user_id 42
    python -m official.recommendation.recommend --export_dir /tmp/ncf_export
        --user_ids_file users.txt --top_k 5 --output_format json
    python -m official.recommendation.recommend --export_dir /tmp/ncf_export
        --rated 1193,661,914                    # a new user, from the movies they rated

Needs only the export (`ncf_main --export_dir`): it carries the id maps, the
movies each user rated (excluded from the recommendations), titles and
genres. `--data_dir` / `--dataset` take titles and genres from that
dataset's `movies.csv` instead (for exports without them, e.g. trained on
`--ncf_split`). Raw MovieLens ids in, raw ids out.

Text output, per user:

    user 42: top 3 of 3706 movies (rated: 58)
      1. Star Wars (1977)  [Action|Adventure|Sci-Fi]  item 260  logit 4.1234

JSON output: one line per user, `{"user_id": 42, "rated": 58,
"recommendations": [{"rank": 1, "item_id": 260, "title": "...",
"genres": ["Action", ...], "score": 4.123412}, ...]}`, the same shape
as the server's `/recommend` answer (`protocol.recommendation_list`).

A user who is not in the training data is folded in from their history
(`--rated` ids, or `--history_file`, a CSV of one user's ratings with an
`item_id` or `movieId` column; ratings, if any, are ignored: the models are
implicit) by the export's `recommend_for_history` (`fold_in`): the
report line reads `new user` and says how many history ids the model knows;
unknown ids are listed, and a history with none known gets the most popular
movies, marked `(popularity fallback)`. JSON adds `"history"`,
`"unknown_item_ids"` and `"fallback"`.
"""

import json
import sys

import numpy as np
from absl import flags

from official.recommendation.serving import protocol
from official.utils.errors import DataError, UserError, first_line
from official.utils.flags import core as flags_core
from official.utils.misc import array_ops

USERS_PER_CALL = 256
WHO = ("user_id", "user_ids_file", "rated", "history_file")  # whom to recommend for
ID_RULE = "ids are decimal integers that fit in 64 bits"


def define_recommend_flags(fv: flags.FlagValues = flags.FLAGS) -> None:
    """Registers the flags of `recommend` in `fv`."""
    fd = flags_core.bind(fv)
    w = flags_core.help_wrap
    fd.DEFINE_string("export_dir", None, w("SavedModel written by ncf_main --export_dir."))
    fd.DEFINE_string("user_id", None, w("Raw user id to recommend for (a MovieLens id, or "
                                        "your log's id as the file writes it)."))
    fd.DEFINE_string("user_ids_file", None,
                     w("Batch mode: a text file of raw user ids, separated by whitespace or "
                       "newlines; one result per id, in file order."))
    fd.DEFINE_string("rated", None, w("A new user: comma-separated raw ids of the movies "
                                      "they rated (folded in; no retraining)."))
    fd.DEFINE_string("history_file", None, w(
        "A new user: CSV of their ratings with an item_id (or movieId) column; other "
        "columns are ignored."))
    fd.DEFINE_integer("top_k", 10, w("Movies per user."), lower_bound=1)
    fd.DEFINE_enum("output_format", "text", ["text", "json"],
                   w("text: a readable list per user; json: one JSON object per line."))
    fd.DEFINE_string("data_dir", None, w("Optional: take titles and genres from this data "
                                         "directory's --dataset instead of the export."))
    fd.DEFINE_string("dataset", None, w("Dataset name under --data_dir (e.g. ml-1m)."))
    fd.mark_flag_as_required("export_dir")
    fd.register_validator("user_id", _plausible_id, message=f"--user_id: {ID_RULE}")
    fd.register_multi_flags_validator(
        list(WHO), lambda v: sum(v[name] is not None for name in WHO) == 1,
        message="give exactly one of " + ", ".join(f"--{name}" for name in WHO))
    fd.register_multi_flags_validator(
        ["data_dir", "dataset"], lambda v: (v["data_dir"] is None) == (v["dataset"] is None),
        message="--data_dir and --dataset go together")


def _plausible_id(value: str | None) -> bool:
    """False only for a number too large for int64 (text ids are checked by the export)."""
    digits = value is not None and value.strip().lstrip("+-").isascii() and value.strip(
        ).lstrip("+-").isdigit()
    return not digits or array_ops.parse_int64(value.strip()) is not None


def read_user_ids(path: str, text: bool = False) -> np.ndarray:
    """int64 [N] ids (`text`: str [N] as written) from a whitespace-separated file.

    Raises:
      UserError: missing file, no ids, or a token that is not an integer.
    """
    try:
        with open(path, encoding="utf-8") as f:
            tokens = np.array(f.read().split())
    except OSError as e:
        raise UserError(f"--user_ids_file {path}: {e.strerror}") from e
    if tokens.size == 0:
        raise UserError(f"--user_ids_file {path}: no user ids")
    if text:
        return tokens
    values, ok = array_ops.int64_tokens(tokens)
    if not ok.all():
        bad = int(np.argmin(ok))
        raise UserError(f"--user_ids_file {path}: {str(tokens[bad])!r} (id number {bad + 1}) "
                        f"is not an integer user id ({ID_RULE})")
    return values


def parse_rated(text: str, text_ids: bool = False) -> np.ndarray:
    """int64 [H] ids (`text_ids`: str [H]) of a comma-separated --rated list.

    Raises:
      UserError: an empty list or a token that is not an integer.
    """
    tokens = np.array([t.strip() for t in text.split(",") if t.strip()], dtype=str)
    if text_ids and tokens.size:
        return tokens
    values, ok = array_ops.int64_tokens(tokens)
    if not tokens.size or not ok.all():
        raise UserError(f"--rated {text!r}: give comma-separated movie ids ({ID_RULE})"
                        + (f"; {str(tokens[np.argmin(ok)])!r} is not one" if tokens.size
                           else ""))
    return values


def read_history(path: str, text: bool = False, column: str | None = None) -> np.ndarray:
    """int64 [H] (`text`: str [H]) item ids of a one-user ratings CSV.

    The column is `column`, else item_id or movieId.

    Raises:
      UserError: missing or unreadable file, no such column, or a non-integer id.
    """
    import pandas as pd

    try:
        frame = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except OSError as e:
        raise UserError(f"--history_file {path}: {e.strerror or e}") from e
    except (ValueError, pd.errors.ParserError) as e:
        raise UserError(f"--history_file {path}: not a CSV file ({first_line(e)})") from e
    names = (column,) if column else ("item_id", "movieId")
    column = next((c for c in names if c in frame.columns), None)
    if column is None:
        raise UserError(f"--history_file {path}: no {' or '.join(names)} column (columns: "
                        f"{', '.join(map(str, frame.columns)) or 'none'})")
    ids = frame[column].fillna("").str.strip()
    if text:
        return ids.to_numpy(str)
    values, ok = array_ops.int64_tokens(ids.to_numpy(str))
    if not ok.all():
        row = int(np.argmin(ok))
        raise UserError(f"--history_file {path}: line {row + 2}: {ids.iloc[row]!r} is not "
                        f"an integer movie id ({ID_RULE})")
    return values


def parse_user_id(text: str) -> np.ndarray:
    """int64 [1] of --user_id for an export with integer ids.

    Raises:
      UserError: not an integer.
    """
    value = array_ops.parse_int64(text.strip())
    if value is None:
        raise UserError(f"--user_id {text!r} is not an integer user id ({ID_RULE}); this "
                        "export's user ids are integers")
    return np.array([value], np.int64)


def recommend_for_history(export, item_ids: np.ndarray, k: int) -> dict:
    """Top-k movies for a new user who rated `item_ids` (int64 [H] raw ids).

    Returns:
      `recommend`'s dict for one user (arrays [1, k']), with "rated" the
      number of known history ids, plus "unknown_item_ids" (int64 [U]) and
      "fallback" (True: no known id, popularity order).

    Raises:
      UserError: the export predates fold-in.
    """
    import tensorflow as tf

    if not hasattr(export, "recommend_for_history"):
        raise UserError("this export has no recommend_for_history endpoint (written before "
                        "fold-in); re-export it with the current ncf_main")
    ids = tf.constant(item_ids, None if item_ids.dtype.kind in "US" else tf.int64)
    out = export.recommend_for_history(item_id=ids, k=tf.constant(k, tf.int32))
    result = _decoded({name: out[name].numpy()[None]
                       for name in ("item_id", "score", "title", "genres", "rated")})
    result["unknown_item_ids"] = _text(np.sort(out["unknown_item_id"].numpy()))
    result["fallback"] = bool(out["fallback"].numpy())
    result["num_items"] = int(export.id_maps()["item_ids"].shape[0])
    return result


def check_ncf_export(export_dir: str, signatures: dict[str, frozenset[str]]) -> None:
    """Refuses an export of another program, naming what it is (before TensorFlow loads it).

    Raises:
      UserError: no `recommend` signature: a census or rating-regressor export,
        or another SavedModel.
    """
    if "recommend" in signatures:
        return
    serving = signatures.get("serving_default", frozenset())
    if "predict_raw" in signatures:
        what = "a census model export (census_main)"
    elif {"user_id", "item_id", "genres", "timestamp"} <= serving:
        what = "a rating-regressor export (movielens_main)"
    else:
        what = "not an ncf_main export"
    raise UserError(f"--export_dir {export_dir} is {what}; recommend and serve need an "
                    "ncf_main export")


def load_export(export_dir: str):
    """The exported object, checked to have the endpoints `recommend` uses."""
    from official.utils.misc import saved_model_export

    obj = saved_model_export.load(export_dir, lambda s: check_ncf_export(export_dir, s))
    if not hasattr(obj, "recommend") or not hasattr(obj, "id_maps"):
        raise UserError(f"--export_dir {export_dir}: this SavedModel has no recommend "
                        "endpoint; re-export it with the current ncf_main")
    return obj


def recommend(export, user_ids: np.ndarray, k: int) -> dict[str, np.ndarray]:
    """Top-k unseen items of each user.

    Args:
      export: from `load_export`.
      user_ids: int64 [N] raw user ids (all known to the export).
      k: items per user.

    Returns:
      {"item_id": int64 [N, k'], "score": float32 [N, k'], "title": str [N, k'],
      "genres": str [N, k'], "rated": int64 [N], "num_items": int} with
      k' = min(k, items); entries with score -inf are already-rated fillers.

    Raises:
      UserError: a user id the model was not trained on.
    """
    import tensorflow as tf

    maps = export.id_maps()
    known = _text(np.sort(maps["user_ids"].numpy()))
    unknown = user_ids[~np.isin(user_ids, known)]
    if unknown.size:
        shown = ", ".join(str(u) for u in np.unique(unknown)[:5])
        raise UserError(f"unknown user_id {shown} (not in the model's training data, which "
                        f"has {len(known)} users, ids {known[0]}..{known[-1]}); for a new "
                        "user pass the items they rated: --rated ID,ID,...")
    parts = [export.recommend(user_id=tf.constant(user_ids[lo:lo + USERS_PER_CALL]),
                              k=tf.constant(k, tf.int32))
             for lo in range(0, len(user_ids), USERS_PER_CALL)]
    out = _decoded({name: np.concatenate([p[name].numpy() for p in parts])
                    for name in ("item_id", "score", "title", "genres", "rated")})
    out["num_items"] = int(maps["item_ids"].shape[0])
    return out


def _text(values: np.ndarray) -> np.ndarray:
    """Text ids (bytes from TensorFlow) decoded to str; integer ids as they are."""
    return np.char.decode(values.astype(bytes), "utf-8") if values.dtype.kind in "SO" else values


def _decoded(result: dict) -> dict:
    """`result` with its "title", "genres" (and text "item_id") bytes decoded to str."""
    for name in ("title", "genres"):
        result[name] = np.char.decode(result[name].astype(bytes), "utf-8")
    result["item_id"] = _text(result["item_id"])
    return result


def text_ids(export) -> tuple[bool, bool]:
    """(users, items): whether the export's ids are text (a log with string ids)."""
    maps = export.id_maps()
    return maps["user_ids"].dtype.name == "string", maps["item_ids"].dtype.name == "string"


def titles_from_dataset(data_dir: str, dataset: str, item_ids: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
    """(titles, genres) str arrays aligned with `item_ids`, from movies.csv."""
    from official.recommendation.serving import model_export

    try:
        return model_export.titles_and_genres(data_dir, dataset, item_ids)
    except (FileNotFoundError, DataError) as e:
        raise UserError(str(e)) from e


def format_results(user_ids: np.ndarray | None, result: dict, num_items: int,
                   output_format: str, history: np.ndarray | None = None) -> str:
    """The text or JSON-lines report of `recommend`'s (or `recommend_for_history`'s) result.

    Args:
      user_ids: int64 [N] users of the rows, or None for one new user with `history`.
    """
    lines = []
    # MovieLens exports carry genres; a log's items are "items".
    noun = "movies" if np.char.str_len(result["genres"].astype(str)).any() else "items"
    for row, user in enumerate(user_ids.tolist() if user_ids is not None else [None]):
        keep = np.isfinite(result["score"][row])
        items = result["item_id"][row][keep].tolist()
        scores = result["score"][row][keep].tolist()
        titles = result["title"][row][keep].tolist()
        genres = result["genres"][row][keep].tolist()
        rated = int(result["rated"][row])
        recommendations = protocol.recommendation_list(items, titles, genres, scores)
        if output_format == "json":
            record = ({"user_id": user} if user is not None else
                      {"history": history.tolist(),
                       "unknown_item_ids": result["unknown_item_ids"].tolist(),
                       "fallback": result["fallback"]})
            lines.append(json.dumps({**record, "rated": rated,
                                     "recommendations": recommendations}, ensure_ascii=False))
            continue
        if user is not None:
            lines.append(f"user {user}: top {len(items)} of {num_items} {noun} (rated: {rated})")
        else:
            unknown = result["unknown_item_ids"].tolist()
            lines.append(
                f"new user: top {len(items)} of {num_items} {noun} (rated: {rated} known"
                + (f"; unknown ids: {', '.join(map(str, unknown))}" if unknown else "") + ")"
                + (" (popularity fallback)" if result["fallback"] else ""))
        for r, (i, t, g, s) in enumerate(zip(items, titles, genres, scores, strict=True)):
            shown = f"  [{g}]" if g else ""
            lines.append(f"  {r + 1:2d}. {t or '(no title)'}{shown}  item {i}  logit {s:.4f}")
    return "\n".join(lines)


def main(_) -> None:
    """Entry point."""
    f = flags.FLAGS
    export = load_export(f.export_dir)
    text_users, text_items = text_ids(export)
    history = users = None
    if f.rated is not None or f.history_file is not None:
        history = (parse_rated(f.rated, text_items) if f.rated is not None
                   else read_history(f.history_file, text_items))
    elif f.user_ids_file is not None:
        users = read_user_ids(f.user_ids_file, text_users)
    elif text_users:
        users = np.array([f.user_id])
    else:
        users = parse_user_id(f.user_id)
    result = (recommend(export, users, f.top_k) if history is None
              else recommend_for_history(export, history, f.top_k))
    if f.data_dir:
        result["title"], result["genres"] = titles_from_dataset(f.data_dir, f.dataset,
                                                                result["item_id"])
    sys.stdout.write(format_results(users, result, result["num_items"], f.output_format,
                                    history) + "\n")


def cli_main() -> None:
    """Console entry point (`official-recommend`): defines the flags, runs `main`."""
    from official.utils.misc import cli

    define_recommend_flags()
    cli.run(main)


if __name__ == "__main__":
    cli_main()
