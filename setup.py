"""Installs the `official` package: `pip install .`."""

import pathlib

import setuptools

_HERE = pathlib.Path(__file__).parent


def _requirements() -> list[str]:
    lines = (_HERE / "requirements.txt").read_text().splitlines()
    reqs = (line.split("#")[0].strip() for line in lines)
    return [r for r in reqs if r]


setuptools.setup(
    name="official-recommendation",
    version="0.1.0",
    description="NCF and Wide & Deep recommendation models on TensorFlow 2.21 / Keras 3.",
    long_description=(_HERE / "README.md").read_text(),
    long_description_content_type="text/markdown",
    python_requires=">=3.11",
    packages=setuptools.find_packages(include=["official", "official.*"]),
    install_requires=_requirements(),
    # Benchmark-only: the peer iALS that ncf_time_to_accuracy compares with.
    extras_require={"bench": ["implicit>=0.7", "scipy>=1.11", "threadpoolctl>=3"]},
    license="Apache-2.0",
)
