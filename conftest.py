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
