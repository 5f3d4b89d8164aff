"""The playground in headless Chromium: sliders, hover, the player, stacks, refusals.

Every highlighted cell is checked against ``receptive_field(...).support(y)`` of the setting the
page shows (read back from the page and mapped onto Python with ``spec_arguments``).
"""

from __future__ import annotations

import time

import pytest

from atrous.errors import SpecError
from atrous.geometry import ConvSpec, output_padding_range, receptive_field
from atrous.viz.playground import spec_arguments, write_playground

pytestmark = pytest.mark.slow  # each drives headless Chromium


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    return write_playground(tmp_path_factory.mktemp("playground") / "playground.html")


def open_page(browser, page, fragment: str = ""):
    browser.get("about:blank")
    browser.get(page.as_uri() + (f"#playground?{fragment}" if fragment else ""))
    for _ in range(100):
        if browser.execute_script("return document.documentElement.getAttribute('data-apg-ready')"):
            return
        time.sleep(0.05)
    raise AssertionError("the playground did not mount")


def state(browser) -> dict:
    return browser.execute_script("return document.querySelector('[data-atrous-playground]').playground.state")


def by(browser, css):
    from selenium.webdriver.common.by import By

    return browser.find_elements(By.CSS_SELECTOR, css)


def hover(browser, element):
    from selenium.webdriver.common.action_chains import ActionChains

    ActionChains(browser).move_to_element(element).perform()


def python_fields(st: dict):
    size, spec = spec_arguments(st)
    f = receptive_field([spec.for_ndim(st["nd"])], input_size=size)[0]
    return [f] if st["nd"] == 1 else list(f.axes)


def tap_positions(browser) -> list[tuple[int, ...]]:
    out = []
    for t in by(browser, '[data-role="tap"][data-cat="input"]'):
        out.append(tuple(int(v) for v in t.get_attribute("data-x").split(",")))
    return sorted(out)


def press(element, key, times=1):
    for _ in range(times):
        element.send_keys(key)


def test_sliders_and_hover_match_the_support(chromium, page, console_errors):
    from selenium.webdriver.common.keys import Keys

    open_page(chromium, page, "mode=layer&nd=1&n=11x11&k=3&s=1&d=1&pad=p&p=1")
    press(by(chromium, 'input[data-name="d"]')[0], Keys.ARROW_RIGHT)  # d = 2
    press(by(chromium, 'input[data-name="k"]')[0], Keys.ARROW_RIGHT)  # k = 4
    press(by(chromium, 'input[data-name="s"]')[0], Keys.ARROW_RIGHT)  # s = 2
    st = state(chromium)
    assert (st["k"], st["s"], st["d"], st["p"]) == (4, 2, 2, 1)
    url = chromium.current_url
    assert "k=4" in url and "s=2" in url  # the settings are in the fragment (d=2 is the default)
    chromium.get("about:blank")
    chromium.get(url)
    assert {k: state(chromium)[k] for k in ("k", "s", "d", "p", "n")} == {k: st[k] for k in ("k", "s", "d", "p", "n")}
    (field,) = python_fields(st)
    outs = by(chromium, '[data-kind="out"]')
    assert len(outs) == field.length == 4  # floor((11 + 2 - 7) / 2) + 1
    for y, cell in enumerate(outs):
        hover(chromium, cell)
        assert tap_positions(chromium) == [(x,) for x in field.support(y)], y
        taps = by(chromium, '[data-role="tap"]')
        assert len(taps) == 4  # every tap is drawn, padding taps marked as such
        pad = [t for t in taps if t.get_attribute("data-cat") == "padding"]
        assert len(pad) == 4 - len(field.support(y))
        assert by(chromium, '[data-role="mrow"]')[0].get_attribute("data-row") == str(y)  # the matrix row
    for cell in by(chromium, '[data-kind="in"][data-x]'):
        x = int(cell.get_attribute("data-x"))
        hover(chromium, cell)
        readers = sorted(int(r.get_attribute("data-y")) for r in by(chromium, '[data-role="reader"]'))
        assert readers == [y for y in range(field.length) if x in field.support(y)], x
        assert by(chromium, '[data-role="mcol"]')[0].get_attribute("data-col") == str(x)
    assert console_errors(chromium) == []


def test_transposed_2d_with_valid_output_padding_only(chromium, page, console_errors):
    from selenium.webdriver.support.ui import Select

    open_page(chromium, page, "mode=layer&nd=2&n=4x5&k=3&s=3&d=1&pad=p&p=1")
    by(chromium, 'input[data-name="t"]')[0].click()
    select = Select(by(chromium, 'select[data-name="op"]')[0])
    offered = [int(o.get_attribute("value")) for o in select.options]
    per_axis = output_padding_range((4, 5), 3, stride=3, padding=1)
    assert offered == sorted(set(per_axis[0]) & set(per_axis[1])) == [0, 1, 2]
    select.select_by_value("2")
    st = state(chromium)
    assert st["t"] == 1 and st["op"] == 2
    fields = python_fields(st)
    assert [f.length for f in fields] == [12, 15]
    outs = by(chromium, '[data-kind="out"]')
    assert len(outs) == 12 * 15
    for cell in outs[::7]:
        yy, yx = (int(v) for v in cell.get_attribute("data-y").split(","))
        hover(chromium, cell)
        want = sorted((a, b) for a in fields[0].support(yy) for b in fields[1].support(yx))
        assert tap_positions(chromium) == want, (yy, yx)
        cats = {t.get_attribute("data-cat") for t in by(chromium, '[data-role="tap"]')}
        assert cats <= {"input", "zero", "padding"}
    # inserted zeros are drawn and marked as such
    assert by(chromium, '[data-kind="in"][data-cat="zero"]')
    assert console_errors(chromium) == []


def test_solve_back_and_refusals_in_pythons_words(chromium, page, console_errors):
    open_page(chromium, page, "mode=layer&nd=1&n=5x5&k=3&s=2&d=1&pad=p&p=1&t=1&solve=1&target=20x20")
    with pytest.raises(SpecError) as exc:
        from atrous.functional import resolve_conv_transpose

        resolve_conv_transpose((3,), (5,), 2, 1, 1, 0, (20,))
    assert by(chromium, '[data-role="error-text"]')[0].text == str(exc.value)
    suggestions = by(chromium, '[data-role="suggestion"]')
    assert suggestions
    suggestions[0].click()
    assert by(chromium, '[data-role="error"]') == []
    st = state(chromium)
    assert st["target"][0] in (9, 10)  # the valid output sizes of 5 -> k3 s2 p1
    assert by(chromium, '[data-role="title"]')[0].text.endswith(f"output {st['target'][0]}")

    open_page(chromium, page, "mode=layer&nd=1&n=4x4&k=5&d=3&pad=p&p=0")
    with pytest.raises(SpecError) as exc:
        receptive_field([ConvSpec(5, dilation=3)], input_size=4)
    assert str(exc.value).endswith(by(chromium, '[data-role="error-text"]')[0].text)
    for i in range(len(by(chromium, '[data-role="suggestion"]'))):
        open_page(chromium, page, "mode=layer&nd=1&n=4x4&k=5&d=3&pad=p&p=0")
        by(chromium, '[data-role="suggestion"]')[i].click()
        size, spec = spec_arguments(state(chromium))
        receptive_field([spec], input_size=size)  # accepted by Python

    open_page(chromium, page, "mode=layer&ci=4&co=6&g=3")
    assert by(chromium, '[data-role="error-text"]')[0].text == "in_channels=4 must be divisible by groups=3"
    by(chromium, '[data-role="suggestion"]')[0].click()
    st = state(chromium)
    assert st["ci"] % st["g"] == 0 and st["co"] % st["g"] == 0
    assert console_errors(chromium) == []


def test_player_and_keyboard(chromium, page, console_errors):
    from selenium.webdriver.common.keys import Keys

    open_page(chromium, page, "mode=layer&nd=1&n=12x12&k=3&s=1&d=1")
    frame = lambda: int(by(chromium, '[data-role="scrub"]')[0].get_attribute("value"))
    current = lambda: by(chromium, '[data-role="current"]')[0].get_attribute("data-y")
    assert frame() == 0 and current() == "0"
    by(chromium, '[data-role="next"]')[0].click()
    assert frame() == 1 and current() == "1"
    by(chromium, '[data-role="play"]')[0].click()
    time.sleep(1.6)
    by(chromium, '[data-role="play"]')[0].click()  # pause
    stopped = frame()
    assert stopped >= 2
    time.sleep(0.8)
    assert frame() == stopped
    stage = by(chromium, ".apg-stage")[0]
    stage.click()
    press(stage, Keys.ARROW_RIGHT, 2)
    assert frame() == (stopped + 2) % 10 or frame() == 0
    press(stage, Keys.HOME)
    assert frame() == 0 and current() == "0"


def test_stack_mode(chromium, page, console_errors):
    open_page(chromium, page, "mode=stack&sn=24")
    by(chromium, '[data-preset="c3.1.2.p0,c3.1.2.p0,c3.1.2.p0"]')[0].click()
    specs = [ConvSpec(3, dilation=2)] * 3
    fields = receptive_field(specs, input_size=24)
    rf = [int(td.text) for td in by(chromium, '[data-role="rf"]')]
    assert rf == [f.size for f in fields] == [5, 9, 13]
    top = fields[-1]
    for cell in by(chromium, '[data-kind="top"]'):
        y = int(cell.get_attribute("data-pos"))
        hover(chromium, cell)
        covered = sorted(int(c.get_attribute("data-pos")) for c in by(chromium, '[data-role="covered"]'))
        assert covered == list(top.support(y)), y
        holes = sorted(int(c.get_attribute("data-pos")) for c in by(chromium, '[data-role="hole"]'))
        s = top.support(y)
        assert holes == [x for x in range(s[0], s[-1] + 1) if x not in s]
    # the gridding comparison: 2, 2, 2 has holes, 1, 2, 5 none
    texts = [t.text for t in by(chromium, '[data-role="gridding-text"]')]
    assert "120 holes of 169" in texts[0] and "no holes" in texts[1]
    # a transposed layer: fractional jump, one tap set per phase
    open_page(chromium, page, "mode=stack&sn=0&stack=c3.1.1.p1,t4.2.1.p1.0")
    field = receptive_field([ConvSpec(3, padding=1), ConvSpec(4, 2, 1, transposed=True)])[-1]
    assert by(chromium, '[data-role="jump"]')[-1].text == "1/2" == str(field.jump)
    phases = by(chromium, ".apg-phases")[-1].text
    for r, p in enumerate(field.phases):
        assert f"r={r}: {{{', '.join(map(str, p.offsets))}}} from {p.start}" in phases
    assert console_errors(chromium) == []


def test_versus_and_matrix_views(chromium, page, console_errors):
    open_page(chromium, page, "mode=versus&n=8x8&k=3&d=2")
    sides = by(chromium, ".apg-vcol[data-side]")
    assert [s.get_attribute("data-side") for s in sides] == ["dilated", "transposed"]
    assert "input 8 \u2192 output 8" in sides[0].text and "input 8 \u2192 output 16" in sides[1].text
    open_page(chromium, page, "mode=layer&nd=1&n=6x6&k=3&s=2&d=1&pad=p&p=1&t=1&op=1")
    entries = by(chromium, '[data-role="entry"]')
    # A^T of the k3 s2 p1 convolution on 12 inputs: 12 x 6, each input column holds the kernel
    assert {e.get_attribute("data-c") for e in entries} == {str(c) for c in range(6)}
    assert max(int(e.get_attribute("data-r")) for e in entries) == 11
    assert "transpose" in by(chromium, ".apg-matrix")[0].text


def test_narrow_screen_fits(chromium, page, console_errors):
    chromium.set_window_size(400, 900)
    try:
        open_page(chromium, page, "mode=layer&nd=1&n=9x9&k=3&d=2")
        width = chromium.execute_script("return document.documentElement.scrollWidth")
        inner = chromium.execute_script("return window.innerWidth")
        assert width <= inner  # nothing sticks out of the page; wide drawings scroll in their box
    finally:
        chromium.set_window_size(1400, 1000)


def test_touch_selects_an_output(chromium, page, console_errors):
    """A tap (a touch pointer, dispatched through the DevTools protocol) lights the output's taps."""
    open_page(chromium, page, "mode=layer&nd=1&n=10x10&k=3&s=1&d=3")
    st = state(chromium)
    (field,) = python_fields(st)
    cell = by(chromium, '[data-kind="out"][data-y="2"]')[0]
    box = chromium.execute_script(
        "var r = arguments[0].getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height / 2];", cell
    )
    point = {"x": box[0], "y": box[1]}
    chromium.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [point]})
    chromium.execute_cdp_cmd("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})
    assert by(chromium, '[data-role="current"]')[0].get_attribute("data-y") == "2"
    assert tap_positions(chromium) == [(x,) for x in field.support(2)]
    assert console_errors(chromium) == []
