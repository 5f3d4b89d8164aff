"""Benchmark of the playground and the single-file report in headless Chromium.

Run: python benchmarks/bench_playground.py [--runs 15] [--no-report]
(writes the "Playground and report" section of BENCHMARKS.md)

Targets (issue: playground): time to interactive of the playground under 200 ms in headless
Chromium; the single-file report (built-in sections and docs/results) under 5 MB.

Time to interactive is read by the page itself: the playground sets ``data-apg-ready`` on the
document to ``performance.now()`` (milliseconds since navigation start) once every control is
wired and the first layer is drawn. Each run is a fresh navigation of a file URL (after
``about:blank``); the median over the runs is reported, side by side with a page of the same
size holding no script (its ``domContentLoaded``), timed in the same session, as the baseline.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from _common import write_section

TTI_TARGET_MS = 200.0
SIZE_TARGET = 5 * 2**20


def _browser(profile: str):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    if not binary or not driver:
        raise SystemExit("needs chromium and chromedriver (make browser installs them)")
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1400,1000",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options), binary


def _ready(browser, attr: str = "data-apg-ready") -> float:
    for _ in range(400):
        v = browser.execute_script(f"return document.documentElement.getAttribute('{attr}')")
        if v is not None:
            return float(v)
        time.sleep(0.01)
    raise RuntimeError("the page did not report ready")


def time_page(browser, url: str, runs: int, script: bool) -> list[float]:
    out = []
    for _ in range(runs + 1):  # the first run warms the browser's caches up and is dropped
        browser.get("about:blank")
        browser.get(url)
        if script:
            out.append(_ready(browser))
        else:
            out.append(
                float(
                    browser.execute_script(
                        "var t = performance.getEntriesByType('navigation')[0]; return t.domContentLoadedEventEnd;"
                    )
                )
            )
    return out[1:]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--runs", type=int, default=15, help="navigations per page (default 15)")
    p.add_argument("--no-report", action="store_true", help="skip the single-file report size")
    p.add_argument("--no-write", action="store_true", help="print only, do not write BENCHMARKS.md")
    a = p.parse_args()
    if a.runs < 1:
        raise SystemExit(f"--runs must be a positive integer, got {a.runs}")
    from atrous.viz.playground import playground_page, write_playground

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    tmp = Path(tempfile.mkdtemp(prefix="atrous-bench-playground-"))
    page = write_playground(tmp / "playground.html")
    size = page.stat().st_size
    # the baseline: a page of the same size without any script
    filler = "<p>" + "x" * (size - 200) + "</p>"
    bare = tmp / "bare.html"
    bare.write_text(f"<!DOCTYPE html><html><head><meta charset='utf-8'></head><body>{filler}</body></html>")
    assert "data-atrous-playground" in playground_page()
    browser, binary = _browser(str(tmp / "profile"))
    try:
        version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout.strip()
        tti = time_page(browser, page.as_uri(), a.runs, script=True)
        base = time_page(browser, bare.as_uri(), a.runs, script=False)
        stack = time_page(browser, page.as_uri() + "#playground?mode=stack&sn=64", a.runs, script=True)
        big = time_page(
            browser, page.as_uri() + "#playground?mode=layer&nd=2&n=32x32&k=7&d=6&pad=full", a.runs, script=True
        )
        report_rows = []
        if not a.no_report:
            from atrous.viz.report import build_report

            results = Path(__file__).resolve().parents[1] / "docs" / "results"
            t0 = time.perf_counter()
            single = build_report(
                tmp / "single.html",
                progress=False,
                examples=results if results.is_dir() else None,
                single_file=True,
            )
            t_single = time.perf_counter() - t0
            t0 = time.perf_counter()
            folder = build_report(tmp / "folder", progress=False, examples=results if results.is_dir() else None)
            t_folder = time.perf_counter() - t0
            folder_bytes = sum(f.stat().st_size for f in folder.parent.rglob("*") if f.is_file())
            report_tti = time_page(browser, single.as_uri(), max(3, a.runs // 3), script=True)
            report_rows = [
                (single.stat().st_size, folder_bytes, t_single, t_folder, statistics.median(report_tti)),
            ]
    finally:
        browser.quit()
    med, med_base = statistics.median(tti), statistics.median(base)
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    lines = [
        "Written by `python benchmarks/bench_playground.py` "
        f"(runs={a.runs}; {platform.machine()}, {cores} usable CPUs, load average {load:.1f} at start, {version}, "
        "headless).",
        "",
        "Time to interactive: the page's own `data-apg-ready` mark (`performance.now()` once every control is "
        "wired and the first layer drawn), median of fresh navigations of a file URL; the baseline is a page "
        "of the same size without script (`domContentLoadedEventEnd`), timed in the same session.",
        "",
        "| page | median ms | min | max | target |",
        "|---|---:|---:|---:|---|",
        f"| playground ({size / 1024:.0f} KiB), default layer | {med:.0f} | {min(tti):.0f} | {max(tti):.0f} | "
        f"< {TTI_TARGET_MS:.0f} ms: {'met' if med < TTI_TARGET_MS else 'MISSED'} |",
        f"| playground, stack mode (input 64) | {statistics.median(stack):.0f} | {min(stack):.0f} | {max(stack):.0f} | |",
        f"| playground, 2-D 32x32, k=7, d=6, 'full' | {statistics.median(big):.0f} | {min(big):.0f} | {max(big):.0f} | |",
        f"| baseline: same size, no script | {med_base:.0f} | {min(base):.0f} | {max(base):.0f} | |",
        "",
        f"Ratio playground / baseline: {med / med_base:.2f}.",
    ]
    if report_rows:
        single_bytes, folder_bytes, t_single, t_folder, r_tti = report_rows[0]
        lines += [
            "",
            "| report | size | build s | target |",
            "|---|---:|---:|---|",
            f"| `atrous report --single-file --examples` (one HTML file) | {single_bytes / 2**20:.2f} MiB | {t_single:.1f} | "
            f"< 5 MiB: {'met' if single_bytes < SIZE_TARGET else 'MISSED'} |",
            f"| `atrous report --examples` (index.html + assets/) | {folder_bytes / 2**20:.2f} MiB | {t_folder:.1f} | |",
            "",
            f"The single-file report's playground and players are interactive {r_tti:.0f} ms after navigation (median).",
        ]
    body = "\n".join(lines)
    print(body)
    if not a.no_write:
        write_section("Playground and report", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
