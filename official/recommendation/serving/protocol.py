"""JSON <-> tensors for the HTTP server: TF Serving's REST predict shape and /recommend bodies.

No aiohttp and no TensorFlow here: requests become numpy arrays checked
against a signature's input specs (name -> (dtype name, shape)), and
results become JSON-ready lists. Every problem is a `RequestError` whose
message is the one-line JSON error the client gets with status 400.

TF Serving's shapes (https://www.tensorflow.org/tfx/serving/api_rest):

* row format: `{"instances": [{"user_id": 1, "item_id": 2}, ...]}` (or bare
  values for a one-input signature) -> `{"predictions": [...]}`, a dict per
  instance when the signature has several outputs;
* columnar format: `{"inputs": {"user_id": [1, ...], "item_id": [2, ...]}}`
  -> `{"outputs": {...}}` (a bare list for one output);
* `"signature_name"` picks the signature (default `serving_default`).
"""

import math
import re

import numpy as np

from official.utils.misc import array_ops

MAX_JSON_DEPTH = 32  # nesting levels of arrays and objects in a request body
_JSON_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
MAX_INSTANCES = 10_000  # rows of one :predict request
MAX_HISTORY = 5_000  # items of one POST /recommend history
MAX_K = 1_000


class RequestError(ValueError):
    """A bad request: its message is the client's 400 error line."""


def tf_error_line(message: str) -> str:
    """The line of a TensorFlow error a client can act on (an assertion's message)."""
    found = re.search(r"assertion failed: \[([^\]]+)\]", message)
    if found:
        return found.group(1)
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    return lines[-1] if lines else "invalid input"


def check_json_depth(text: str) -> None:
    """Refuses a JSON text nested deeper than `MAX_JSON_DEPTH` (before it is parsed).

    Strings are blanked first, so brackets inside them do not count.

    Raises:
      RequestError: too deep.
    """
    skeleton = np.frombuffer(_JSON_STRING.sub('""', text).encode("utf-8", "replace"), np.uint8)
    step = (np.isin(skeleton, (ord("["), ord("{"))).astype(np.int32)
            - np.isin(skeleton, (ord("]"), ord("}"))))
    if np.cumsum(step).max(initial=0) > MAX_JSON_DEPTH:
        raise RequestError(f"the JSON body is nested more than {MAX_JSON_DEPTH} levels deep")


def _array(name: str, value, dtype: str, shape: tuple) -> np.ndarray:
    """`value` as a numpy array of `dtype` with the spec's shape (None: any size)."""
    try:
        if dtype == "string":
            array = np.asarray(value, dtype=object)
            if not all(isinstance(v, str) for v in array.reshape(-1)):
                raise TypeError
            array = array.astype(str)
        elif dtype.startswith("int"):
            array = np.asarray(value, dtype=object)
            low, high = np.iinfo(dtype).min, np.iinfo(dtype).max
            if not all(isinstance(v, int) and not isinstance(v, bool) and low <= v <= high
                       for v in array.reshape(-1)):
                raise RequestError(f"input {name!r} must hold {dtype} values (integers from "
                                   f"{low} to {high})")
            array = array.astype(dtype)
        else:
            array = np.asarray(value, dtype=object)
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool)
                       and math.isfinite(v) for v in array.reshape(-1)):
                raise TypeError
            array = array.astype(dtype)
    except RequestError:
        raise
    except (TypeError, ValueError):
        raise RequestError(f"input {name!r} must hold {dtype} values") from None
    if array.ndim != len(shape) or any(s is not None and s != a
                                       for s, a in zip(shape, array.shape, strict=True)):
        want = "[" + ", ".join("N" if s is None else str(s) for s in shape) + "]"
        raise RequestError(f"input {name!r} must have shape {want}, got "
                           f"{list(array.shape)}")
    return array


def predict_inputs(body, specs: dict) -> tuple[dict, bool]:
    """(name -> array, row format?) of a :predict body for inputs `specs`.

    Args:
      body: the parsed JSON body.
      specs: name -> (dtype name, shape tuple with None for any size).

    Raises:
      RequestError: not an object, neither or both of instances / inputs,
        missing or unknown inputs, wrong types or shapes, too many rows.
    """
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    if ("instances" in body) == ("inputs" in body):
        raise RequestError('give exactly one of "instances" (row format) and "inputs" '
                           "(columnar format)")
    if "instances" in body:
        rows = body["instances"]
        if not isinstance(rows, list) or not rows:
            raise RequestError('"instances" must be a non-empty list')
        if not specs:
            raise RequestError('this signature takes no inputs: use {"inputs": {}}')
        if len(rows) > MAX_INSTANCES:
            raise RequestError(f'"instances" has {len(rows)} rows; at most {MAX_INSTANCES}')
        if any(len(shape) == 0 for _, shape in specs.values()):
            raise RequestError("this signature has scalar inputs: use the columnar "
                               '"inputs" format')
        if len(specs) == 1 and not all(isinstance(r, dict) for r in rows):
            (name,) = specs
            rows = [{name: r} for r in rows]
        if not all(isinstance(r, dict) for r in rows):
            raise RequestError('each of "instances" must be an object of named inputs')
        columns = {}
        for name in specs:
            if any(name not in r for r in rows):
                raise RequestError(f"input {name!r} is missing from an instance")
            columns[name] = [r[name] for r in rows]
        extra = {k for r in rows for k in r} - set(specs)
        if extra:
            raise RequestError(f"unknown input {sorted(extra)[0]!r}; the signature takes "
                               f"{', '.join(sorted(specs))}")
        return {n: _array(n, columns[n], *specs[n]) for n in specs}, True
    inputs = body["inputs"]
    if not isinstance(inputs, dict):
        if len(specs) != 1:
            raise RequestError('"inputs" must be an object of named inputs')
        inputs = {next(iter(specs)): inputs}
    unknown = set(inputs) - set(specs)
    if unknown:
        raise RequestError(f"unknown input {sorted(unknown)[0]!r}; the signature takes "
                           f"{', '.join(sorted(specs))}")
    missing = set(specs) - set(inputs)
    if missing:
        raise RequestError(f"input {sorted(missing)[0]!r} is missing")
    arrays = {n: _array(n, inputs[n], *specs[n]) for n in specs}
    if any(a.ndim and len(a) > MAX_INSTANCES for a in arrays.values()):
        raise RequestError(f"an input has more than {MAX_INSTANCES} rows")
    return arrays, False


def jsonable(value: np.ndarray):
    """A numpy output as JSON values: bytes decoded, non-finite floats as null."""
    array = np.asarray(value)
    if array.dtype.kind in "SO":
        return np.char.decode(array.astype(bytes), "utf-8").tolist()
    if array.dtype.kind == "f":
        return _nulls(np.where(np.isfinite(array), array, np.nan).tolist())
    return array.tolist()


def predict_response(outputs: dict, row_format: bool) -> dict:
    """TF Serving's response of named outputs (arrays with a leading batch axis for rows)."""
    values = {name: jsonable(v) for name, v in outputs.items()}
    if not row_format:
        return {"outputs": next(iter(values.values())) if len(values) == 1 else values}
    if len(values) == 1:
        return {"predictions": next(iter(values.values()))}
    names = list(values)
    if len({len(v) if isinstance(v, list) else -1 for v in values.values()}) > 1:
        raise RequestError("this signature's outputs differ in length: use the columnar "
                           '"inputs" format')
    return {"predictions": [dict(zip(names, row, strict=True))
                            for row in zip(*(values[n] for n in names), strict=True)]}


def _nulls(value):
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, list):
        return [_nulls(v) for v in value]
    return value


def positive_k(value, num_items: int) -> int:
    """`k` of a /recommend request: an integer in 1..min(MAX_K, items)."""
    if isinstance(value, str):
        value = array_ops.parse_int64(value)
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= min(
            MAX_K, num_items):
        raise RequestError(f"k must be an integer from 1 to {min(MAX_K, num_items)}")
    return value


def id_value(value):
    """A raw id from an export's output as JSON: bytes decoded, numpy ints as int."""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    return value if isinstance(value, str) else int(value)


def recommendation_list(item_ids, titles, genres, scores) -> list[dict]:
    """One user's recommendations as JSON: `[{"rank", "item_id", "title", "genres", "score"}]`.

    The same shape for `recommend --output_format json` and the server.

    Args:
      item_ids: [K] raw item ids (int64 or bytes / str), best first, fillers dropped.
      titles, genres: [K] str or bytes ("|"-separated genres; "" for none).
      scores: float [K] model scores (rounded to 6 decimals).
    """
    titles, genres = jsonable(np.asarray(titles)), jsonable(np.asarray(genres))
    return [{"rank": r + 1, "item_id": id_value(i), "title": t,
             "genres": g.split("|") if g else [], "score": round(float(s), 6)}
            for r, (i, t, g, s) in enumerate(zip(list(item_ids), titles, genres, scores,
                                                 strict=True))]


def history_of(body, dtype: str = "int64") -> tuple[np.ndarray, object]:
    """(item ids [H] of `dtype`, k or None) of a POST /recommend body `{"history": [...]}`.

    `dtype` is the export's item id type: "int64", or "string" for a log
    with text ids.

    History entries are ids or `{"item_id": id, "rating": r}` objects (the
    rating is ignored: the models are implicit).
    """
    if not isinstance(body, dict) or "history" not in body:
        raise RequestError('the body must be a JSON object with a "history" list')
    extra = set(body) - {"history", "k"}
    if extra:
        raise RequestError(f"unknown field {sorted(extra)[0]!r}")
    history = body["history"]
    if not isinstance(history, list):
        raise RequestError('"history" must be a list of item ids')
    if len(history) > MAX_HISTORY:
        raise RequestError(f'"history" has {len(history)} items; at most {MAX_HISTORY}')
    ids = [h.get("item_id") if isinstance(h, dict) else h for h in history]
    return _array("history", ids, dtype, (None,)), body.get("k", 10)
