"""Shared pytest set-up: names for doctests, hypothesis profiles."""

import os

import pytest

try:
    from hypothesis import settings

    settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True)
    settings.register_profile("dev", max_examples=30, deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # pragma: no cover - hypothesis is a dev dependency
    pass


def pytest_configure(config):
    # Under pytest-xdist, each worker shares the 2 cores with the others: one intra-op thread
    # per worker keeps small torch ops from waiting on a thread that cannot get a core.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        try:
            import torch

            torch.set_num_threads(1)
        except ImportError:  # pragma: no cover
            pass


@pytest.fixture(autouse=True)
def _doctest_names(doctest_namespace):
    import atrous
    import atrous.geometry as geometry

    doctest_namespace["at"] = atrous
    for name in geometry.__all__:
        doctest_namespace[name] = getattr(geometry, name)
    try:
        import numpy as np

        doctest_namespace["np"] = np
    except ImportError:  # pragma: no cover
        pass
