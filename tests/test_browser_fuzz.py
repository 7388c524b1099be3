"""Hostile input through a real `streamlit run` on 127.0.0.1 and Debian's headless Chromium.

- Crafted URL paths sent raw over HTTP (traversal, encoded traversal, 8 000-character paths, NUL,
  unknown pages): /etc/passwd is never served and the server answers with an ordinary status.
- Crafted URLs in the browser (traversal in a query, 5 000-character values, script tags, embed
  options carrying HTML): no exception element, no script runs (no dialog), no JavaScript error.
- A hostile file (10000x10000) through the real upload route of the Feature maps page: one error line; a real
  digit still works; a file above config.toml's 5 MB is refused before the page's code sees it.
"""
from __future__ import annotations

import http.client
import re
import time
from pathlib import Path

import pytest

from streamlit_server import launch_chromium, running_server, wait_until_idle, warm_up
from test_fuzz import digit_image, encode, solid_png_streamed

pytestmark = pytest.mark.browser

CRAFTED_PATHS = ["/../../../../etc/passwd", "/%2e%2e/%2e%2e/%2e%2e/etc/passwd", "/..%2f..%2f..%2fetc%2fpasswd",
                 "/static/../../../../etc/passwd", "/app/static/../../../../etc/passwd",
                 "/_stcore/static/..%2f..%2f..%2f..%2fetc%2fpasswd", "/media/../../../../etc/passwd",
                 "/component/..%2f..%2f..%2fetc%2fpasswd", "/" + "a" * 8000, "/train_live/../../../etc/passwd",
                 "/?page=../../etc/passwd", "/train_live?" + "x=" + "y" * 8000, "/%00", "/no-such-page"]


def test_crafted_urls_and_uploads_through_a_real_server(tmp_path, data_dir):
    from playwright.sync_api import sync_playwright
    passwd = Path("/etc/passwd").read_text().splitlines()[0] if Path("/etc/passwd").exists() else "root:x:0:0"
    with running_server(env={"ARELU_DATA_DIR": data_dir}, log_dir=tmp_path) as server:
        # raw HTTP: the paths exactly as written, no client-side normalisation
        for path in CRAFTED_PATHS:
            connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
            connection.request("GET", path)
            response = connection.getresponse()
            body = response.read().decode("latin-1")
            assert passwd not in body and "root:x:0:0" not in body, path
            assert response.status in (200, 301, 302, 400, 403, 404, 405, 414, 431), (path, response.status)
            connection.close()
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            try:
                warm_up(browser, server.url)
                page = browser.new_page(viewport={"width": 1300, "height": 900})
                dialogs, script_errors = [], []
                page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
                page.on("pageerror", lambda exc: script_errors.append(str(exc)[:200]))
                for path in ["/?page=../../etc/passwd&q=<script>alert(1)</script>&x=" + "A" * 5000,
                             "/?embed=true&embed_options=%3Cimg%20src=x%20onerror=alert(1)%3E", "/no-such-page"]:
                    page.goto(server.url + path)
                    wait_until_idle(page, timeout_s=120)
                    assert page.locator('[data-testid="stException"]').count() == 0, path
                    assert passwd not in page.content(), path
                # The browser folds this into /etc/passwd: Streamlit answers with its index page, whose relative
                # asset paths then miss (a blank page). Nothing is served from the disk, nothing runs.
                page.goto(server.url + "/%2e%2e/%2e%2e/etc/passwd")
                time.sleep(2)
                assert passwd not in page.content()
                assert not dialogs, f"a crafted URL ran a script: {dialogs}"
                # uploads through the real upload route
                page.goto(server.url + "/inspect_digit")
                wait_until_idle(page, timeout_s=120)
                page.get_by_role("button", name="Upload").or_(page.get_by_text("Upload", exact=True)).first.click()
                wait_until_idle(page)
                chooser = page.locator('[data-testid="stFileUploaderDropzoneInput"]').first
                for name, data, is_digit in [("huge.png", solid_png_streamed(10_000, 10_000, 0), False),
                                             ("fine.png", encode(digit_image(size=(200, 260), ink=0, paper=255), "PNG"), True)]:
                    chooser.set_input_files(files=[{"name": name, "mimeType": "image/png", "buffer": data}])
                    # the upload is sent, then the page reruns: wait for this file's outcome, not a quiet moment
                    page.get_by_text(f"Cannot use {name}" if not is_digit else f"from {name}").first.wait_for(timeout=120_000)
                    wait_until_idle(page, timeout_s=120)
                    errors = page.locator('[data-testid="stAlertContentError"]')
                    assert page.locator('[data-testid="stException"]').count() == 0, name
                    if is_digit:
                        assert errors.count() == 0, (name, errors.first.inner_text())
                    else:
                        assert errors.count() == 1 and f"Cannot use {name}" in errors.first.inner_text(), name
                # above the 5 MB cap: refused before it reaches the page's code
                too_big = b"\x89PNG\r\n\x1a\n" + bytes(6 * 2**20)
                chooser.set_input_files(files=[{"name": "too-big.png", "mimeType": "image/png", "buffer": too_big}])
                wait_until_idle(page, timeout_s=60)
                text = page.locator('[data-testid="stFileUploader"]').first.inner_text()
                assert re.search(r"(too large|must be 5\.0MB or smaller|exceeds)", text, re.I), text
                assert "Cannot use too-big.png" not in page.content()
                assert not script_errors, script_errors
            finally:
                browser.close()
        assert "Traceback" not in server.log_text(), server.log_text()[-3000:]
