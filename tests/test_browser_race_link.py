"""A race's link in a real browser: tab A (its own browser context) starts a small race and its URL gains
?race=<id>; that URL opened in a fresh browser context (no cookies, no session: a student's laptop, or A's
reload) shows the same race's cards while it runs and its results once it ends, and the settings it carries."""
from __future__ import annotations

import os
import re
import time
from pathlib import Path

import pytest

from streamlit_server import (ERROR_SELECTORS, launch_chromium, running_server, start_race, wait_for_cards,
                              wait_until_idle, warm_up)

pytestmark = pytest.mark.browser
VIEWPORT, TALL = {"width": 1400, "height": 900}, {"width": 1400, "height": 2200}


def test_a_copied_race_link_opens_the_race_in_a_fresh_browser_context(tmp_path, data_dir):
    from playwright.sync_api import sync_playwright
    with running_server(env={"ARELU_DATA_DIR": data_dir}, log_dir=tmp_path) as server, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            warm_up(browser, server.url)
            page_a = browser.new_context(viewport=VIEWPORT).new_page()
            page_a.goto(server.url + "/train_live")
            start_race(page_a, ["ReLU", "AReLU"], digits="first 512")
            wait_for_cards(page_a, lambda cards: [label for label, _ in cards] == ["ReLU", "AReLU"], what="A's cards")
            deadline = time.monotonic() + 60
            while "race=" not in page_a.url:
                assert time.monotonic() < deadline, page_a.url
                time.sleep(0.2)
            link = page_a.url
            assert re.search(r"[?&]race=[A-Za-z0-9_-]{22}", link) and re.search(r"train_subset=first(\+|%20)512", link), link

            page_b = browser.new_context(viewport=TALL).new_page()   # nothing shared with A but the link
            page_b.goto(link)
            cards = wait_for_cards(page_b, lambda cards: [label for label, _ in cards] == ["ReLU", "AReLU"],
                                   what="the race in the fresh context")
            print(f"\nthe link opened the race: {cards}")
            wait_for_cards(page_b, lambda cards: all(status == "finished" for _, status in cards),
                           timeout_s=240, what="the race's end in the fresh context")
            page_b.get_by_text("Results", exact=True).wait_for(timeout=60_000)
            page_b.get_by_text("Not comparable with the paper's Table 1").wait_for(timeout=30_000)
            wait_until_idle(page_b)
            assert page_b.locator(ERROR_SELECTORS).count() == 0
            page_b.get_by_text("Race settings (for the next race)").click()          # the link's settings came too
            combobox = page_b.get_by_role("combobox", name="Training images", exact=True)   # its value: an input's
            shown = combobox.evaluate("e => (e.value || '') + ' | ' + (e.closest('[data-baseweb=select]') || e).innerText")
            assert "first 512" in shown, shown
            wait_until_idle(page_b)
            page_b.screenshot(path=Path(os.environ.get("ARELU_SCREENSHOT_DIR") or tmp_path) / "train_live_race_link.png")
        finally:
            browser.close()
