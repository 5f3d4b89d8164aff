"""Shared pytest set-up: a private cache directory and hypothesis profiles (doctests import what they use)."""

import os
import shutil
import tempfile

try:
    from hypothesis import settings

    settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True)
    settings.register_profile("dev", max_examples=30, deadline=None)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # pragma: no cover - hypothesis is a dev dependency
    pass


#: the environment variable that points atrous's caches (the autotune file, the compiled C
#: kernel) somewhere else than ~/.cache/atrous
CACHE_ENV = "ATROUS_CACHE_DIR"


def pytest_configure(config):
    # The whole session (and every process it starts: xdist workers, examples, DDP ranks)
    # reads and writes a temporary cache directory, never the user's ~/.cache/atrous. The
    # controller makes it; xdist workers inherit it with the environment.
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        config._atrous_cache = tempfile.mkdtemp(prefix="atrous-test-cache-")
        os.environ[CACHE_ENV] = config._atrous_cache
    # Under pytest-xdist, each worker shares the 2 cores with the others: one intra-op thread
    # per worker keeps small torch ops from waiting on a thread that cannot get a core.
    if os.environ.get("PYTEST_XDIST_WORKER"):
        try:
            import torch

            torch.set_num_threads(1)
        except ImportError:  # pragma: no cover
            pass


def pytest_unconfigure(config):
    cache = getattr(config, "_atrous_cache", None)
    if cache:
        shutil.rmtree(cache, ignore_errors=True)
