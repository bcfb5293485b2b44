"""Helpers shared by the MovieLens test files: zipped raw layouts, leftover checks."""

import io
import os
import zipfile

from official.datasets import movielens_schema as schema
from official.datasets import movielens_synthetic as synth

SMALL = synth.SyntheticSpec(num_users=60, num_items=120, num_ratings=2400, seed=3)


def zip_bytes(files: dict[str, bytes]) -> bytes:
    """A zip archive of `files` (name -> bytes)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    return buf.getvalue()


def layout_zip(tmp_path, dataset: str, spec=SMALL) -> bytes:
    """A GroupLens-style zip of `dataset`'s raw layout from synthetic ratings."""
    raw = tmp_path / f"raw-{dataset}"
    raw.mkdir()
    ratings, movies = synth.generate_frames(spec)
    names = synth.write_raw_layout(ratings, movies, str(raw), schema.LAYOUTS[dataset])
    return zip_bytes({f"{dataset}/{n}": (raw / n).read_bytes() for n in names})


def assert_nothing_left(data_dir, dataset):
    """Asserts the dataset directory holds nothing but resumable .part files."""
    d = os.path.join(data_dir, dataset)
    if os.path.isdir(d):
        left = [n for n in os.listdir(d) if not n.endswith(".part")]
        assert left == [], left
