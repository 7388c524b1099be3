"""A deep link as the first request after the server starts (a bookmark, a link a teacher shares).

Streamlit treats an app with a pages/ folder as a legacy folder app until some run calls
st.navigation; a first request for /inspect_digit used to run pages/inspect_digit.py on its own, and the
whole server kept the legacy sidebar (file names, "app") and lost app.py's wide layout for every
visitor until someone opened "/". ui/navigation.py reruns such a page through app.py; app.py gives each page
its file name as address, so the legacy mode finds the page too and shows no "Page not found" dialog.
"""
from __future__ import annotations

import pytest

from streamlit_server import ERROR_SELECTORS, launch_chromium, running_server, wait_until_idle

pytestmark = pytest.mark.browser


def test_a_deep_link_on_a_fresh_server_gets_the_app_navigation(tmp_path, data_dir):
    from playwright.sync_api import expect, sync_playwright
    with running_server(env={"ARELU_DATA_DIR": data_dir}, log_dir=tmp_path) as server, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.goto(server.url + "/inspect_digit")
            wait_until_idle(page, 180)
            # The legacy run reruns through app.py at once; the sidebar may show the folder's names for
            # that moment, so wait for app.py's (a real failure keeps them: the wait then times out)
            expect(page.locator('[data-testid="stSidebarNav"]')).to_contain_text("Reproduce the paper", timeout=60_000)
            wait_until_idle(page, 180)
            nav = page.locator('[data-testid="stSidebarNav"]').inner_text()
            assert "Reproduce the paper" in nav and "Feature maps & Grad-CAM" in nav, nav   # st.navigation's titles
            assert "inspect digit" not in nav and "app" not in nav.split("\n"), nav        # not the folder's file names
            assert page.locator("h1").first.inner_text() == "Feature maps & Grad-CAM"
            # The address is the file name, which the legacy mode also knows: no "Page not found" dialog
            assert page.locator('[role="dialog"]').count() == 0, page.locator('[role="dialog"]').all_inner_texts()
            assert page.locator(ERROR_SELECTORS).count() == 0
            # A second visitor, later, gets the same app
            other = browser.new_page(viewport={"width": 1400, "height": 900})
            other.goto(server.url + "/explore")
            wait_until_idle(other, 180)
            assert "Explore the function" in other.locator('[data-testid="stSidebarNav"]').inner_text()
            assert other.locator("h1").first.inner_text() == "Explore the function"
        finally:
            browser.close()
