"""Fixtures shared by the census tests."""

import pytest

from official.wide_deep import census_dataset as census


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    """A directory holding synthetic adult.data (3,000 rows) and adult.test (1,500)."""
    path = tmp_path_factory.mktemp("mirror")
    census.generate_synthetic(str(path), num_train=3000, num_test=1500, seed=0)
    return str(path)
