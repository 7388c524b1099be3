"""A browser tab closed mid-training, through a real `streamlit run` and Debian's headless Chromium.

The server runs with one training slot (ARELU_MAX_JOBS=1) and a one-second grace for vanished sessions
(ARELU_SESSION_TIMEOUT=1). Tab A starts a 20-epoch race on all 60 000 digits (minutes of work) and
holds the slot; tab B queues a 512-digit race behind it and sees "queued, position 1". Tab A closes.
B's race must then start and finish within a bound far shorter than A's training: A's job was
cancelled and its slot handed on, and no training worker process is left on the server. The in-process
details (status, message, no thread left, nothing kept) are checked in test_faults.py.
"""
from __future__ import annotations

import subprocess
import time

import pytest

from streamlit_server import (ERROR_SELECTORS, launch_chromium, read_cards, running_server, start_race,
                              wait_for_cards, warm_up)

pytestmark = pytest.mark.browser
DONE = ("finished", "stopped", "diverged", "failed")


def training_workers(server_pid: int) -> list[str]:
    """The server's child processes that run a training (multiprocessing's spawned workers)."""
    rows = subprocess.run(["ps", "-ww", "-o", "pid=,args=", "--ppid", str(server_pid)], capture_output=True, text=True)
    return [row for row in rows.stdout.splitlines() if "multiprocessing.spawn" in row]


def test_a_closed_tab_frees_its_training_slot(tmp_path, data_dir):
    from playwright.sync_api import sync_playwright
    env = {"ARELU_DATA_DIR": data_dir, "ARELU_MAX_JOBS": "1", "ARELU_SESSION_TIMEOUT": "1"}
    with running_server(env=env, log_dir=tmp_path) as server, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            t0 = time.monotonic()
            warm_up(browser, server.url)
            tab_a = browser.new_context(viewport={"width": 1400, "height": 1000})
            tab_b = browser.new_context(viewport={"width": 1400, "height": 1000})
            page_a, page_b = tab_a.new_page(), tab_b.new_page()
            page_a.goto(server.url + "/train_live")
            page_b.goto(server.url + "/train_live")
            start_race(page_a, "ReLU", digits="all 60 000", max_epochs=True, click=False)
            start_race(page_b, "AReLU", digits="first 512", click=False)     # both set up before any training
            page_a.get_by_role("button", name="Start race").click()
            wait_for_cards(page_a, lambda cards: cards[0][1] == "running", what="tab A's race to run")
            page_a.get_by_text("of 9380").first.wait_for(timeout=60_000)   # 469 steps x 20 epochs: minutes
            a_running = time.monotonic() - t0
            assert len(training_workers(server.proc.pid)) == 1     # A's training, in its own process
            page_b.get_by_role("button", name="Start race").click()
            cards = wait_for_cards(page_b, lambda cards: "queued" in cards[0][1], what="tab B to queue")
            assert cards == [("AReLU", "queued, position 1")], cards
            b_queued = time.monotonic() - t0

            closed_at = time.monotonic()
            tab_a.close()                           # the student closes the tab mid-training
            try:
                wait_for_cards(page_b, lambda cards: cards[0][1] == "running", timeout_s=60, what="B's race to start")
                started_after = time.monotonic() - closed_at
                cards = wait_for_cards(page_b, lambda cards: all(status in DONE for _, status in cards),
                                       timeout_s=120, what="B's race to end")
            except AssertionError as exc:
                page_b.screenshot(path=str(tmp_path / "tab_b.png"), full_page=True)
                raise AssertionError(f"{exc}; screenshot {tmp_path / 'tab_b.png'}; server log: "
                                     f"{server.log_text()[-1500:]}") from None
            assert cards[-1] == ("AReLU", "finished"), cards
            assert {label for label, _ in read_cards(page_b)} == {"AReLU"}     # never A's job
            assert page_b.locator(ERROR_SELECTORS).count() == 0
            deadline = time.monotonic() + 30                        # B's worker exits once it has sent its result
            while training_workers(server.proc.pid) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not training_workers(server.proc.pid), training_workers(server.proc.pid)
            print(f"\nA running at {a_running:.0f} s, B queued at {b_queued:.0f} s, A closed, B started "
                  f"{started_after:.1f} s later (grace 1 s, checks every 1 s), B finished at {time.monotonic() - t0:.0f} s")
            tab_b.close()
        finally:
            browser.close()
    assert "Traceback" not in server.log_text(), server.log_text()[-3000:]
