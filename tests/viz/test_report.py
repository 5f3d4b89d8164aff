"""The HTML report: built from the examples, self-contained, and rendered by headless Chromium."""

import re
import shutil
from html.parser import HTMLParser

import pytest

from atrous.viz.report import build_report


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs, self.hrefs, self.sections = [], [], []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "img":
            self.srcs.append(a.get("src"))
        if tag in ("link", "script") and (a.get("href") or a.get("src")):
            self.hrefs.append(a.get("href") or a.get("src"))
        if tag == "section":
            self.sections.append(a.get("id"))


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    build_report(out, progress=False)
    return out


def test_report_is_self_contained(report_dir):
    index = report_dir / "index.html"
    text = index.read_text()
    refs = _Refs()
    refs.feed(text)
    assert refs.sections == ["seeds", "arithmetic", "gridding", "transposed", "tcn", "wavenet", "aspp", "context"]
    assert len(refs.srcs) >= 15
    for src in refs.srcs:
        assert not re.match(r"^[a-z]+://", src), src  # no network
        path = report_dir / src
        assert path.is_file() and path.stat().st_size > 500, src
    assert refs.hrefs == []  # styles and scripts are inline
    for fact in ("3, 7, 15", "3070", "3571", "212" if False else "67"):
        assert fact in text or fact.replace(", ", "") in text


def test_report_numbers(report_dir):
    text = (report_dir / "index.html").read_text()
    assert "Output receptive field: 3070 samples" in text
    assert "<td>rate18</td><td>37 x 37</td>" in text.replace('<td class="l">', "<td>").replace('<td class="">', "<td>")


def _chromium():
    binary = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    driver = shutil.which("chromedriver")
    return binary, driver


def test_report_in_headless_chromium(report_dir, tmp_path):
    binary, driver = _chromium()
    if not binary or not driver:
        pytest.skip(
            "Chromium or chromedriver is not installed (make test installs the Debian packages chromium and chromium-driver)"
        )
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-dev-shm-usage",
        "--window-size=1280,2400",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(flag)
    try:
        browser = webdriver.Chrome(service=Service(driver), options=options)
    except WebDriverException as exc:
        pytest.skip(f"Chromium cannot start here: {str(exc).splitlines()[0]}")
    try:
        browser.set_page_load_timeout(60)
        browser.get((report_dir / "index.html").resolve().as_uri())
        state = browser.execute_script(
            "var im = Array.prototype.slice.call(document.images);"
            "return {total: im.length, loaded: im.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,"
            " broken: im.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).map(function (i) { return i.src; }),"
            " sections: document.querySelectorAll('section').length, title: document.title,"
            " height: document.body.scrollHeight};"
        )
        assert state["broken"] == [], state["broken"]
        assert state["loaded"] == state["total"] >= 15
        assert state["sections"] == 8 and state["title"] == "atrous report"
        shot = tmp_path / "report.png"
        assert browser.save_screenshot(str(shot))
    finally:
        browser.quit()
    from PIL import Image, ImageStat

    image = Image.open(shot).convert("RGB")
    assert image.size[0] >= 1000
    stat = ImageStat.Stat(image)
    assert max(stat.stddev) > 20  # not a blank page
    colours = image.resize((64, 64)).getcolors(64 * 64)
    assert colours is None or len(colours) > 50  # text, tables and figures, not a flat fill
