"""The test session never reads or writes the user's cache: the root conftest.py points
atrous's caches (the autotune file, the compiled C kernel) at a temporary directory, for this
process and every process it starts."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from atrous._fast import autotune, ckernel


def test_the_session_uses_a_temporary_cache_directory():
    home_cache = Path(os.path.expanduser("~")) / ".cache" / "atrous"
    cache = ckernel.cache_dir()
    assert str(cache) == os.environ["ATROUS_CACHE_DIR"]
    assert Path(cache).name.startswith("atrous-test-cache-")
    assert home_cache.resolve() not in (cache.resolve(), *cache.resolve().parents)
    assert autotune.cache_path().parent == cache


@pytest.mark.slow
def test_child_processes_inherit_it():
    code = "from atrous._fast import ckernel; print(ckernel.cache_dir())"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=300)
    assert out.stdout.strip() == os.environ["ATROUS_CACHE_DIR"]
