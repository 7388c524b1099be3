"""A real browser: `streamlit run app.py` served on 127.0.0.1, Debian's headless Chromium driven by
Playwright. Opens every page, uses one control on each, finds no error element, and saves a
screenshot per page (into $ARELU_SCREENSHOT_DIR, else the test's temporary folder)."""
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("ARELU_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]
ERROR_SELECTORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'

pytestmark = pytest.mark.browser


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(data_dir, tmp_path_factory):
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "streamlit.log"
    env = {**os.environ, "ARELU_DATA_DIR": data_dir, "ARELU_RUNS_DIR": str(tmp_path_factory.mktemp("runs"))}
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                                 "--server.address", "127.0.0.1", "--server.headless", "true"],
                                cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=1).read() == b"ok":
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail(f"streamlit did not start: {log.read_text()[-2000:]}")
        yield {"url": url, "started": started, "log": log}
    finally:
        proc.terminate()
        proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Debian's chromium is needed at {CHROMIUM} (apt-get install chromium; scripts/test.sh does it as root)")
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def wait_until_idle(page, timeout_s=60.0):
    """Streamlit shows its status widget while a script runs: wait for a quiet moment."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_s * 1000)
    deadline, quiet_since = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        running = page.locator('[data-testid="stStatusWidget"]').count() > 0
        skeleton = page.locator('[data-testid="stSkeleton"]').count() > 0
        if running or skeleton:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > 0.6:
            return
        time.sleep(0.1)
    raise AssertionError("the page kept running")


def nudge_first_slider(page):
    slider = page.get_by_role("slider").first
    slider.focus()
    slider.press("ArrowRight")


def choose_second_option(page, label):
    page.get_by_label(label, exact=False).first.click()
    page.get_by_role("option").nth(1).click()


PAGES = [  # (url path, name, one control to use)
    ("/", "home", lambda page: page.get_by_role("link", name="Explore the function").first.is_visible()),
    ("/explore", "explore", nudge_first_slider),
    ("/gradient_flow", "gradient_flow", nudge_first_slider),
    ("/train_live", "train_live", nudge_first_slider),
    ("/inspect_digit", "inspect", nudge_first_slider),
    ("/reproduce", "reproduce", lambda page: page.get_by_role("tab", name="Run a small version").click()),
]


def test_every_page_in_chromium(server, browser, tmp_path):
    shots = Path(os.environ.get("ARELU_SCREENSHOT_DIR") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(server["url"] + "/")
    wait_until_idle(page)
    print(f"\nserver start to interactive home page: {time.perf_counter() - server['started']:.1f} s")
    for path, name, use_control in PAGES:
        started = time.perf_counter()
        page.goto(server["url"] + path)
        wait_until_idle(page)
        loaded = time.perf_counter() - started
        use_control(page)
        wait_until_idle(page)
        page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        errors = page.locator(ERROR_SELECTORS)
        assert errors.count() == 0, f"{name}: {errors.first.inner_text()[:300]}"
        assert "Traceback" not in page.content(), name
        print(f"{name:<14} loaded in {loaded:.2f} s; screenshot {shots / (name + '.png')}")
    # switching pages through the sidebar, as a person does
    started = time.perf_counter()
    page.get_by_role("link", name="Gradient flow").first.click()
    page.wait_for_url("**/gradient_flow")
    wait_until_idle(page)
    print(f"page switch through the sidebar: {time.perf_counter() - started:.2f} s")
    page.close()
