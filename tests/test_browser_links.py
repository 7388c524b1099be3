"""A shared link reopens the view, in a real browser: `streamlit run app.py` on 127.0.0.1 and Debian's headless
Chromium. Set a state with the page's own controls, copy "Link to this view", open it in a new browser context
(a new session, no cookies), and find the same widget values and the same figures (the plotted data itself,
as the page's charts describe it). Screenshots of both go to $ARELU_SCREENSHOT_DIR, else the test's folder."""
import json
import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from streamlit_server import launch_chromium, running_server, wait_until_idle  # noqa: E402

pytestmark = pytest.mark.browser

# Every chart of the page. ECharts (ui/echarts.py): the description it writes for screen readers, which names
# each series and lists its first data points as drawn. Plotly: its traces' names and plotted values (rounded).
FIGURES = """() => Array.from(document.querySelectorAll('[data-testid=stEChartsChart]')).map(chart =>
    chart.getAttribute('aria-label') || '').concat(
    Array.from(document.querySelectorAll('.js-plotly-plot')).map(plot => (plot.data || []).map(t => ({
    name: t.name || '', type: t.type || '',
    x: Array.from(t.x || []).map(v => typeof v === 'number' ? +v.toFixed(6) : v),
    y: Array.from(t.y || []).map(v => typeof v === 'number' ? +v.toFixed(6) : v)}))))"""
DRAWN = "() => document.querySelectorAll('.js-plotly-plot, [data-testid=stEChartsChart][aria-label]').length > 0"
SLIDERS = """() => Array.from(document.querySelectorAll('[role=slider]')).map(s => [s.getAttribute('aria-label') ||
    s.closest('[data-testid=stSlider]')?.innerText.split('\\n')[0], s.getAttribute('aria-valuenow')])"""


@pytest.fixture(scope="module")
def server(data_dir, tmp_path_factory):
    with running_server(env={"ARELU_DATA_DIR": data_dir}, log_dir=tmp_path_factory.mktemp("server")) as running:
        yield running


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright
    with sync_playwright() as playwright:
        chromium = launch_chromium(playwright)
        yield chromium
        chromium.close()


@pytest.fixture()
def shots(tmp_path) -> Path:
    folder = Path(os.environ.get("ARELU_SCREENSHOT_DIR") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def view(page) -> dict:
    """What the visitor sees: the widgets' values and the figures' data."""
    wait_until_idle(page, timeout_s=120)
    page.wait_for_function(DRAWN, timeout=60_000)
    return {"sliders": page.evaluate(SLIDERS), "figures": page.evaluate(FIGURES),
            "selections": page.locator('[data-testid="stMultiSelect"], [data-testid="stSelectbox"]').all_inner_texts(),
            "notes": [t for t in page.locator('[data-testid="stAlertContentWarning"]').all_inner_texts()
                      if "This link asks" in t]}


def copied_link(page) -> str:
    page.get_by_role("button", name="Link to this view").click()
    code = page.locator('[data-testid="stPopoverBody"] [data-testid="stCode"] code')
    code.first.wait_for(timeout=30_000)
    link = code.first.inner_text().strip()
    page.keyboard.press("Escape")
    return link


def reopen(browser, link: str, shots: Path, name: str, size=(1400, 1400)):
    context = browser.new_context(viewport={"width": size[0], "height": size[1]})
    page = context.new_page()
    page.goto(link)
    seen = view(page)
    page.screenshot(path=str(shots / f"{name}_reopened.png"))
    context.close()
    return seen


def test_explore_link_reopens_the_same_view(server, browser, shots):
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    page.goto(server.url + "/explore")
    before = view(page)
    alpha = page.get_by_role("slider").first           # α: to its minimum, clamped to 0.01
    alpha.focus()
    alpha.press("Home")
    wait_until_idle(page)
    beta = page.get_by_role("slider").nth(1)
    beta.focus()
    for _ in range(5):                                 # β 2.0 -> 1.5
        beta.press("ArrowLeft")
    wait_until_idle(page)
    page.get_by_role("button", name="Draw beside AReLU").click()
    box = page.get_by_role("combobox", name="Other activations", exact=True)
    box.click()
    box.fill("Tanh")
    page.get_by_role("option", name="Tanh", exact=True).first.click()
    page.keyboard.press("Escape")
    page.keyboard.press("Escape")
    original = view(page)
    assert original["figures"] != before["figures"]
    link = copied_link(page)
    assert "explore_alpha=-0.5" in link and "explore_beta=1.5" in link and "explore_overlays=Tanh" in link, link
    assert link.split("?")[0] == server.url + "/explore"
    page.screenshot(path=str(shots / "explore_link_original.png"))
    context.close()

    reopened = reopen(browser, link, shots, "explore_link")
    assert not reopened["notes"]
    assert reopened["sliders"] == original["sliders"]
    assert json.dumps(reopened["figures"]) == json.dumps(original["figures"])


def test_gradient_flow_link_reopens_the_same_view(server, browser, shots):
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    page.goto(server.url + "/gradient_flow")
    view(page)
    depth = page.get_by_role("slider").first
    depth.focus()
    for _ in range(8):                                 # 20 -> 12 layers
        depth.press("ArrowLeft")
    wait_until_idle(page)
    page.get_by_role("combobox", name="Initialisation", exact=True).click()
    page.get_by_role("option", name="Kaiming (He)", exact=True).first.click()
    original = view(page)
    assert "AReLU explodes" in page.locator('[data-testid="stMain"]').inner_text()
    link = copied_link(page)
    assert "flow_depth=12" in link and "flow_init=Kaiming" in link, link
    page.screenshot(path=str(shots / "gradient_flow_link_original.png"))
    context.close()

    reopened = reopen(browser, link, shots, "gradient_flow_link")
    assert not reopened["notes"]
    assert reopened["sliders"] == original["sliders"] and reopened["selections"] == original["selections"]
    assert json.dumps(reopened["figures"]) == json.dumps(original["figures"])


def test_a_bad_link_opens_the_defaults_with_one_note(server, browser, shots):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.goto(server.url + "/explore?explore_alpha=99&explore_overlays=Nothing&zzz=1")
    seen = view(page)
    assert len(seen["notes"]) == 1 and "explore_alpha=99" in seen["notes"][0] and "zzz" in seen["notes"][0]
    assert not page.locator('[data-testid="stException"], [data-testid="stAlertContentError"]').count()
    page.screenshot(path=str(shots / "explore_bad_link.png"))
    context.close()
