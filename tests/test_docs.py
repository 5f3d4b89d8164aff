"""The documentation site: it builds with warnings as errors, and the gallery shows every figure."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def test_gallery_shows_every_recorded_figure():
    gallery = (DOCS / "gallery.md").read_text(encoding="utf-8")
    shown = set(re.findall(r"\]\((results/[^)]+\.png)\)", gallery))
    recorded = {p.relative_to(DOCS).as_posix() for p in (DOCS / "results").rglob("*.png")}
    assert recorded, "docs/results holds no figure"
    assert shown == recorded, f"missing: {sorted(recorded - shown)}, stale: {sorted(shown - recorded)}"


def test_every_subpackage_has_an_api_page():
    text = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for name in ("atrous", "geometry", "nn", "analysis", "stream", "functional", "viz", "datasets"):
        page = DOCS / "api" / f"{name}.md"
        assert page.exists(), page
        assert f"api/{name}.md" in text, f"api/{name}.md is not in the nav"
        module = "atrous" if name == "atrous" else f"atrous.{name}"
        assert f"::: {module}\n" in page.read_text(encoding="utf-8"), page


@pytest.mark.slow
def test_mkdocs_build_strict(tmp_path):
    pytest.importorskip("mkdocs", reason="mkdocs is not installed (make docs installs the docs extra)")
    pytest.importorskip("mkdocstrings", reason="mkdocstrings is not installed (make docs installs the docs extra)")
    pytest.importorskip("material", reason="mkdocs-material is not installed (make docs installs the docs extra)")
    site = tmp_path / "site"
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    api = (site / "api" / "geometry" / "index.html").read_text(encoding="utf-8")
    assert 'id="atrous.geometry.receptive_field"' in api  # the reference is built from the docstrings
    assert (site / "results" / "gridding" / "curves.png").exists()  # the gallery's figures are copied
    shutil.rmtree(site)
