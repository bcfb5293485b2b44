"""Block TFRecord encoding without TensorFlow (used by the shard writers).

One record holds a block of rows: a `tf.train.Example` whose feature `<col>`
is a `bytes_list` with one value, the block's column data as raw
little-endian bytes in C order (shape `[rows, *shape]`). Column dtypes and
shapes live in the buffer's manifest. The reader decodes a block with
`tf.io.parse_single_example` + `tf.io.decode_raw`; no per-row work on either
side.

This module imports only numpy and google-crc32c, so writer processes start
in milliseconds and never fork a TensorFlow runtime.
"""

import struct

import google_crc32c
import numpy as np

_MASK_DELTA = 0xA282EAD8


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(tag: int, payload: bytes) -> bytes:
    """Length-delimited protobuf field (wire type 2)."""
    return _varint(tag << 3 | 2) + _varint(len(payload)) + payload


def encode_block(columns: dict[str, np.ndarray]) -> bytes:
    """Serializes one block of rows as a `tf.train.Example`.

    Args:
      columns: name -> array of shape [rows, *shape]; all with the same rows.

    Returns:
      Serialized `tf.train.Example` bytes.
    """
    entries = []
    for name in sorted(columns):
        values = np.ascontiguousarray(columns[name])
        if values.dtype.byteorder == ">":
            values = values.astype(values.dtype.newbyteorder("<"))
        bytes_list = _field(1, values.tobytes())  # BytesList.value
        feature = _field(1, bytes_list)  # Feature.bytes_list
        entry = _field(1, name.encode()) + _field(2, feature)  # map entry key/value
        entries.append(_field(1, entry))  # Features.feature
    return _field(1, b"".join(entries))  # Example.features


def _masked_crc(data: bytes) -> int:
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def frame_record(data: bytes) -> bytes:
    """Wraps bytes in TFRecord framing (length, masked CRC32C of length, data, CRC)."""
    length = struct.pack("<Q", len(data))
    return (length + struct.pack("<I", _masked_crc(length)) + data
            + struct.pack("<I", _masked_crc(data)))


def write_shard(path: str, columns: dict[str, np.ndarray], start: int, stop: int,
                rows_per_record: int) -> dict:
    """Writes rows [start, stop) of `columns` as one TFRecord file of blocks.

    Args:
      path: output file (the caller makes the directory atomic).
      columns: name -> array [num_rows, *shape] (may be memory-mapped).
      start, stop: row range of this shard.
      rows_per_record: rows per record (the last record may hold fewer).

    Returns:
      {"rows", "records", "bytes"} of the shard.
    """
    records = 0
    with open(path, "wb") as f:
        for lo in range(start, stop, rows_per_record):
            hi = min(lo + rows_per_record, stop)
            f.write(frame_record(encode_block({c: a[lo:hi] for c, a in columns.items()})))
            records += 1
        size = f.tell()
    return {"rows": stop - start, "records": records, "bytes": size}
