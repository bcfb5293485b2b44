"""Test-process set-up shared by every test."""

import pytest


def pytest_configure(config: pytest.Config) -> None:
    """In each process that runs tests, imports TensorFlow as the programs do.

    Its C++ start-up lines are captured instead of reaching the test output
    (`cli.import_tensorflow_quietly`); the xdist controller, which runs no
    test, does not import it at all.
    """
    if hasattr(config, "workerinput") or config.pluginmanager.get_plugin("dsession") is None:
        from official.utils.misc import cli

        cli.import_tensorflow_quietly()
