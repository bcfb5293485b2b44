"""From a log's rows to unique positives: the rating filter, duplicates, the k-core.

Vectorized over rows (no per-row Python):

1. positives: rows with rating >= `min_rating` (every row without a rating
   filter); rows with a weight <= 0 are dropped too;
2. duplicates: the rows of one (user, item) pair become one positive with
   the latest timestamp, the summed weight and the position of its latest
   row (the row order breaks timestamp ties: the later row is the later);
3. the k-core: users with fewer than `min_user` positives and items with
   fewer than `min_item` are dropped, repeatedly, until none is left (a
   fixed point; one pass when only users are filtered);
4. ids are renumbered densely in sorted raw-id order.

`card` summarizes the result and what was dropped and why.
"""

import dataclasses
import datetime

import numpy as np

from official.utils.errors import DataError


@dataclasses.dataclass
class Interactions:
    """Unique positives in contiguous indices, sorted by (user, item).

    Attributes:
      users, items: int32 [P].
      times: int64 [P] latest Unix second of each pair (-1: the log has none).
      order: int64 [P] the pair's latest row in the file (0-based): ties in
        `times` go to the larger.
      weights: float32 [P] summed weight (1 per row without a weight column).
      user_ids, item_ids: raw ids of each index (int64, or str), sorted.
      titles: str [I] per item ("" unknown), or None.
      card: what `card` says of it (JSON-ready).
    """

    users: np.ndarray
    items: np.ndarray
    times: np.ndarray
    order: np.ndarray
    weights: np.ndarray
    user_ids: np.ndarray
    item_ids: np.ndarray
    titles: np.ndarray | None = None
    card: dict = dataclasses.field(default_factory=dict)

    @property
    def num_users(self) -> int:
        """Users (U)."""
        return len(self.user_ids)

    @property
    def num_items(self) -> int:
        """Items (I)."""
        return len(self.item_ids)

    @property
    def has_times(self) -> bool:
        """Whether the log had timestamps."""
        return bool(len(self.times)) and bool((self.times >= 0).all())


def merge_duplicates(keys: np.ndarray, times: np.ndarray, rows: np.ndarray,
                     weights: np.ndarray) -> tuple[np.ndarray, ...]:
    """(unique keys, latest time, latest row, summed weight) per key, keys sorted.

    The latest row is the last by (time, row). Args are aligned [R] arrays,
    `rows` ascending; one sort of the keys, then segment reductions (no
    order within a key is needed: (time, row) is one int64, maximized).
    """
    if not len(keys):
        return keys, times, rows, weights
    # Rows ascend, so a position orders like its row: fold (time, position) into one key.
    n = len(keys)
    position = np.arange(n, dtype=np.int64)
    if (int(times.max()) - int(times.min()) + 1) * n >= 2**62:  # would overflow: rank times
        order_key = np.unique(times, return_inverse=True)[1].astype(np.int64) * n + position
    else:
        order_key = (times - times.min()) * n + position
    perm = np.argsort(keys)
    keys = keys[perm]
    starts = np.flatnonzero(np.concatenate([[True], keys[1:] != keys[:-1]]))
    last = np.maximum.reduceat(order_key[perm], starts) % n
    return keys[starts], times[last], rows[last], np.add.reduceat(weights[perm], starts)


def k_core(users: np.ndarray, items: np.ndarray, num_users: int, num_items: int,
           min_user: int, min_item: int) -> tuple[np.ndarray, int]:
    """(bool [P] pairs kept, rounds) at the fixed point of both minimums."""
    keep = np.ones(len(users), bool)
    rounds = 0
    while True:
        u_count = np.bincount(users[keep], minlength=num_users)
        i_count = np.bincount(items[keep], minlength=num_items)
        drop = keep & ((u_count[users] < min_user) | (i_count[items] < min_item))
        if not drop.any():
            return keep, rounds
        keep &= ~drop
        rounds += 1


def _spread(counts: np.ndarray) -> dict:
    counts = counts[counts > 0]
    if not len(counts):
        return {"min": 0, "median": 0, "p90": 0, "max": 0}
    return {"min": int(counts.min()), "median": float(np.median(counts)),
            "p90": float(np.percentile(counts, 90)), "max": int(counts.max())}


def _iso(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(int(seconds), datetime.UTC).isoformat()


def clean(user_codes: np.ndarray, item_codes: np.ndarray, user_ids: np.ndarray,
          item_ids: np.ndarray, *, rating: np.ndarray | None = None,
          min_rating: float | None = None, times: np.ndarray | None = None,
          weight: np.ndarray | None = None, min_user: int = 1, min_item: int = 1,
          source: str = "") -> Interactions:
    """`Interactions` of a log's rows (see the module docstring).

    Args:
      user_codes, item_codes: int [R] indices into `user_ids` / `item_ids`.
      user_ids, item_ids: sorted raw ids.
      rating: float [R] or None; rows below `min_rating` are not positives.
      times: int64 [R] Unix seconds, or None.
      weight: float [R] or None (each row weighs 1).
      min_user, min_item: the k-core's minimum positives per user / item.
      source: the file, for messages.

    Raises:
      DataError: nothing is left, naming the filter that removed it.
    """
    rows = len(user_codes)
    keep = np.ones(rows, bool)
    dropped = {}
    if rating is not None and min_rating is not None:
        low = rating < min_rating
        dropped["below_min_rating"] = int(low.sum())
        keep &= ~low
        if not keep.any():
            raise DataError(f"{source}: every row has a rating below --min_rating {min_rating:g}")
    if weight is not None:
        nonpositive = weight <= 0
        dropped["weight_not_positive"] = int((nonpositive & keep).sum())
        keep &= ~nonpositive
        if not keep.any():
            raise DataError(f"{source}: no row has a positive weight")
    num_items = len(item_ids)
    row = np.flatnonzero(keep)
    if len(row) == rows:  # nothing filtered: no gathers
        keys = user_codes.astype(np.int64) * num_items + item_codes
        t = times if times is not None else np.full(rows, -1, np.int64)
        w = weight if weight is not None else np.ones(rows)
    else:
        keys = user_codes[row].astype(np.int64) * num_items + item_codes[row]
        t = times[row] if times is not None else np.full(len(row), -1, np.int64)
        w = weight[row] if weight is not None else np.ones(len(row))
    keys, t, last_row, w = merge_duplicates(keys, t, row.astype(np.int64), w)
    dropped["duplicates"] = int(len(row) - len(keys))
    users, items = keys // num_items, keys % num_items
    kept, rounds = k_core(users, items, len(user_ids), num_items, min_user, min_item)
    if not kept.any():
        raise DataError(f"{source}: every user was filtered out by --min_user_interactions "
                        f"{min_user} / --min_item_interactions {min_item} (k-core)")
    before_users = int((np.bincount(users, minlength=len(user_ids)) > 0).sum())
    before_items = int((np.bincount(items, minlength=num_items) > 0).sum())
    users, items, t, last_row, w = (a[kept] for a in (users, items, t, last_row, w))
    used_u = np.flatnonzero(np.bincount(users, minlength=len(user_ids)))
    used_i = np.flatnonzero(np.bincount(items, minlength=num_items))
    dropped["short_users"] = int(before_users - len(used_u))
    dropped["rare_items"] = int(before_items - len(used_i))
    dropped["k_core_positives"] = int((~kept).sum())
    u_map = np.full(len(user_ids), -1, np.int64)
    u_map[used_u] = np.arange(len(used_u))
    i_map = np.full(num_items, -1, np.int64)
    i_map[used_i] = np.arange(len(used_i))
    users, items = u_map[users].astype(np.int32), i_map[items].astype(np.int32)
    out = Interactions(users, items, t.astype(np.int64), last_row, w.astype(np.float32),
                       user_ids[used_u], item_ids[used_i])
    out.card = card(out, rows, dropped, rounds, source)
    out.card["weighted"] = weight is not None
    return out


def card(data: Interactions, rows: int, dropped: dict, rounds: int, source: str) -> dict:
    """The dataset card: sizes, spreads, time span, and what was dropped and why."""
    per_user = np.bincount(data.users, minlength=data.num_users)
    per_item = np.bincount(data.items, minlength=data.num_items)
    span = None
    if data.has_times:
        span = {"first": _iso(data.times.min()), "last": _iso(data.times.max()),
                "days": round(float(data.times.max() - data.times.min()) / 86400, 1)}
    return {"source": source, "rows": int(rows), "users": data.num_users,
            "items": data.num_items, "interactions": int(len(data.users)),
            "density": float(len(data.users) / max(1, data.num_users * data.num_items)),
            "interactions_per_user": _spread(per_user),
            "interactions_per_item": _spread(per_item), "time_span": span,
            "id_types": {"user": "int" if data.user_ids.dtype.kind == "i" else "str",
                         "item": "int" if data.item_ids.dtype.kind == "i" else "str"},
            "dropped": dropped, "k_core_rounds": int(rounds)}


def card_lines(c: dict) -> list[str]:
    """The card in two lines, for logs."""
    d = c["dropped"]
    span = (f", {c['time_span']['first'][:10]} to {c['time_span']['last'][:10]}"
            if c.get("time_span") else ", no timestamps")
    per_user, per_item = c["interactions_per_user"], c["interactions_per_item"]
    return [f"{c['users']} users, {c['items']} items, {c['interactions']} interactions "
            f"(density {c['density']:.5f}; per user median {per_user['median']:g}, "
            f"per item median {per_item['median']:g}){span}",
            f"from {c['rows']} rows: dropped {d.get('duplicates', 0)} duplicates, "
            f"{d.get('below_min_rating', 0)} below --min_rating, "
            f"{d.get('weight_not_positive', 0)} without a positive weight, "
            f"{d.get('short_users', 0)} short users and {d.get('rare_items', 0)} rare items "
            f"({d.get('k_core_positives', 0)} positives, k-core in {c['k_core_rounds']} rounds)"]
