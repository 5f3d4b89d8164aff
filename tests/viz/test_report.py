"""The HTML report: built from the examples, self-contained, true, readable at 400 px, one file
on request, and rendered by headless Chromium."""

import re
import time
from html.parser import HTMLParser
from pathlib import Path

import pytest

from atrous.viz.report import _markdown_inline, build_report

RESULTS = Path(__file__).resolve().parents[2] / "docs" / "results"
SECTIONS = ["playground", "seeds", "arithmetic", "gridding", "transposed", "tcn", "wavenet", "aspp", "context"]


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.srcs, self.hrefs, self.sections, self.players, self.metas, self.texts = [], [], [], [], [], []
        self._code = 0  # inside <script> or <style>: not visible text

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        self._code += tag in ("script", "style")
        if tag == "img":
            self.srcs.append(a.get("src"))
        if tag in ("link", "script") and (a.get("href") or a.get("src")):
            self.hrefs.append(a.get("href") or a.get("src"))
        if tag == "section":
            self.sections.append(a.get("id"))
        if "data-atrous-player" in a:
            self.players.append(a["data-atrous-player"])
        if tag == "meta":
            self.metas.append(a)

    def handle_endtag(self, tag):
        self._code -= tag in ("script", "style")

    def handle_data(self, data):
        if not self._code:
            self.texts.append(data)


def _build(folder: Path) -> Path:
    build_report(folder, progress=False, examples=RESULTS if RESULTS.is_dir() else None)
    return folder


@pytest.fixture(scope="module")
def report_dir(build_once):
    return build_once("report", _build)


@pytest.fixture(scope="module")
def parsed(report_dir):
    refs = _Refs()
    refs.feed((report_dir / "index.html").read_text())
    return refs


@pytest.mark.slow
def test_report_is_self_contained(report_dir, parsed):
    text = (report_dir / "index.html").read_text()
    assert parsed.sections[: len(SECTIONS)] == SECTIONS
    assert len(parsed.srcs) >= 10
    for src in parsed.srcs:
        assert not re.match(r"^[a-z]+://", src), src  # no network
        path = report_dir / src
        assert path.is_file() and path.stat().st_size > 500, src
    assert parsed.hrefs == []  # styles and scripts are inline
    builtin = [s for s in parsed.srcs if "example_" not in s]
    assert builtin and all(s.endswith(".svg") for s in builtin)  # sharp on any screen
    for fact in ("3, 7, 15", "3070", "3571", "67"):
        assert fact in text or fact.replace(", ", "") in text


@pytest.mark.slow
def test_report_reads_on_a_phone(parsed, report_dir):
    text = (report_dir / "index.html").read_text()
    assert {"name": "viewport", "content": "width=device-width, initial-scale=1"} in parsed.metas
    assert text.count("<table>") == text.count('<div class="tablewrap"><table>')  # every table scrolls in its box
    assert re.search(r"nav \{[^}]*position: sticky", text)


@pytest.mark.slow
def test_report_numbers(report_dir):
    text = (report_dir / "index.html").read_text()
    assert "Output receptive field: 3070 samples" in text
    assert "<td>rate18</td><td>37 x 37</td>" in text.replace('<td class="l">', "<td>").replace('<td class="">', "<td>")


@pytest.mark.slow
def test_animations_are_players_of_every_case(parsed):
    from atrous.geometry import ConvSpec, invert, output_size
    from atrous.viz.animate import CONV_ARITHMETIC
    from atrous.viz.playground import player_state

    players = set(parsed.players)
    for i, k, s, p, d in CONV_ARITHMETIC.values():
        spec = ConvSpec(k, s, p, d)
        assert player_state(spec, (i, i)) in players
        out = output_size(i, k, s, p, d)
        assert player_state(invert(spec, i), (out, out)) in players, (i, k, s, p, d)
    assert player_state(ConvSpec(3, 2, 1, transposed=True, output_padding=1), (3, 3)) in players  # the odd case
    assert player_state(ConvSpec(3, stride=2, dilation=2, transposed=True), (4, 4)) in players
    assert len(players) >= 19


@pytest.mark.slow
def test_report_tells_the_truth(report_dir, parsed):
    from atrous.analysis.spectra import aspp_alias_free_strides, cutoff, rule_of_thumb_stride

    text = (report_dir / "index.html").read_text()
    visible = " ".join(parsed.texts)
    # padding_strides_odd: every input is read, the unread cell is padding
    assert "never read" not in visible
    assert "Output 2 reads inputs 3-5: every input is read; the cells no output reads are padding" in visible
    # ASPP: the rule's strides next to the whole path's, with the counter-example
    box = [1.0, 1.0, 1.0]
    wc = cutoff(box)
    alone = aspp_alias_free_strides((6, 12, 18), box)
    assert alone == {6: 1, 12: 1, 18: 1}
    flat = text.replace('<td class="l">', "<td>").replace('<td class="">', "<td>")
    for r in (6, 12, 18):
        assert f"<td>{r}</td><td>{wc / r:.4f}</td><td>{rule_of_thumb_stride(r, wc)}</td>" in flat
    assert "100% of its DC gain at &pi;/3" in text and "promises 19" in text
    # the TCN's field is counted back from the present, not fitted by a Gaussian around its centre
    assert "counted back from the present step" in visible and "last " in visible
    # the context module's text says what the figure shows
    assert "lies well inside" not in visible and "90% within 33.3" in visible


@pytest.mark.slow
def test_no_markup_leaks(parsed):
    visible = " ".join(parsed.texts)
    for leak in ("&omega;", "&pi;", "`", "*different*", "*head/conv"):
        assert leak not in visible, leak
    assert _markdown_inline("sums *different* weights, `checkerboard()`'s counts; 2*3") == (
        "sums <i>different</i> weights, <code>checkerboard()</code>'s counts; 2*3"
    )


@pytest.mark.slow
def test_single_file_report(tmp_path):
    index = build_report(
        tmp_path / "one.html",
        progress=False,
        sections=["dilation", "ASPP"],
        examples=RESULTS if RESULTS.is_dir() else None,
        single_file=True,
    )
    assert index == tmp_path / "one.html"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one.html"]  # no assets folder
    refs = _Refs()
    text = index.read_text()
    refs.feed(text)
    assert refs.srcs and all(s.startswith(("data:image/svg+xml;base64,", "data:image/png;base64,")) for s in refs.srcs)
    assert "assets/" not in text and refs.hrefs == []
    assert index.stat().st_size < 5 * 2**20


@pytest.mark.slow
def test_cli_single_file(tmp_path, capsys):
    from atrous.cli import main

    assert (
        main(
            [
                "report",
                "builtin:hdc-125",
                "-i",
                "1,3,16,16",
                "-o",
                str(tmp_path / "m"),
                "--single-file",
                "--no-progress",
            ]
        )
        == 0
    )
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["index.html"]
    assert 'src="data:image/svg+xml;base64,' in (tmp_path / "m" / "index.html").read_text()


def _open(browser, path, width):
    browser.set_window_size(width, 1200)
    browser.get("about:blank")
    browser.get(path.resolve().as_uri())
    for _ in range(200):
        if browser.execute_script("return document.documentElement.getAttribute('data-apg-ready')"):
            break
        time.sleep(0.05)


@pytest.mark.slow
def test_report_in_headless_chromium(report_dir, chromium, console_errors, tmp_path):
    from selenium.webdriver.common.by import By

    _open(chromium, report_dir / "index.html", 1400)
    state = chromium.execute_script(
        "var im = Array.prototype.slice.call(document.images);"
        "return {total: im.length, loaded: im.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,"
        " broken: im.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).map(function (i) { return i.src; }),"
        " sections: document.querySelectorAll('section').length, title: document.title,"
        " nav: getComputedStyle(document.querySelector('nav')).position,"
        " playground: document.querySelectorAll('#playground [data-kind=out]').length};"
    )
    # players are drawn when they come near the screen: scroll through the page
    height = chromium.execute_script("return document.body.scrollHeight")
    for y in range(0, height, 700):
        chromium.execute_script(f"window.scrollTo(0, {y})")
        time.sleep(0.05)
    chromium.execute_script("window.scrollTo(0, 0)")
    time.sleep(0.3)
    state.update(
        chromium.execute_script(
            "var im = Array.prototype.slice.call(document.images);"
            "return {loaded: im.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length,"
            " broken: im.filter(function (i) { return !(i.complete && i.naturalWidth > 0); }).map(function (i) { return i.src; }),"
            " players: document.querySelectorAll('[data-atrous-player] svg').length};"
        )
    )
    assert state["broken"] == [], state["broken"]
    assert state["loaded"] == state["total"] >= 10
    assert state["sections"] >= 9 and state["title"] == "atrous report"
    assert state["players"] >= 19 and state["nav"] == "sticky" and state["playground"] > 0
    # a player pauses and steps
    fig = chromium.find_elements(By.CSS_SELECTOR, "[data-atrous-player]")[3]
    chromium.execute_script("arguments[0].scrollIntoView()", fig)
    play = fig.find_element(By.CSS_SELECTOR, '[data-role="play"]')
    scrub = fig.find_element(By.CSS_SELECTOR, '[data-role="scrub"]')
    if play.get_attribute("aria-label") == "pause":
        play.click()  # it was playing: pause it
    before = int(scrub.get_attribute("value"))
    time.sleep(0.7)
    assert int(scrub.get_attribute("value")) == before  # paused
    fig.find_element(By.CSS_SELECTOR, '[data-role="next"]').click()
    assert int(scrub.get_attribute("value")) == (before + 1) % (int(scrub.get_attribute("max")) + 1)
    assert console_errors(chromium) == []
    shot = tmp_path / "report.png"
    chromium.execute_script("window.scrollTo(0, 0)")
    assert chromium.save_screenshot(str(shot))
    from PIL import Image, ImageStat

    image = Image.open(shot).convert("RGB")
    assert image.size[0] >= 1000
    assert max(ImageStat.Stat(image).stddev) > 20  # not a blank page
    colours = image.resize((64, 64)).getcolors(64 * 64)
    assert colours is None or len(colours) > 50  # text, tables and figures, not a flat fill


@pytest.mark.slow
def test_report_fits_400_px(report_dir, chromium):
    _open(chromium, report_dir / "index.html", 400)
    try:
        widths = chromium.execute_script(
            "return {page: document.documentElement.scrollWidth, inner: window.innerWidth,"
            " wide: Array.prototype.slice.call(document.querySelectorAll('main section')).filter(function (s) {"
            "   return s.getBoundingClientRect().right > window.innerWidth + 1; }).map(function (s) { return s.id; })};"
        )
        assert widths["page"] <= widths["inner"], widths
        assert widths["wide"] == []
    finally:
        chromium.set_window_size(1400, 1000)
