"""Helpers for tests that need a real `streamlit run app.py` on 127.0.0.1 and Debian's Chromium.

    with running_server(env={"ARELU_MAX_JOBS": "1"}) as server:   # server.url, server.proc, server.log
        ...

Not a test module: test_defaults, test_browser_faults and test_browser_fuzz import it.
"""
from __future__ import annotations

import contextlib
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CHROMIUM = os.environ.get("ARELU_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]
ERROR_SELECTORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    port: int
    proc: subprocess.Popen
    log: Path
    started: float

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def running_server(env: dict | None = None, args: list[str] | None = None, log_dir: str | os.PathLike | None = None,
                   start_timeout: float = 120.0, bind_loopback: bool = True, cwd: str | os.PathLike | None = None,
                   port: int | None = None):
    """Start streamlit on a free port of 127.0.0.1 and stop it (terminate, then kill) on exit.

    The repository's .streamlit/config.toml applies (streamlit runs in the repository root).
    `--server.address 127.0.0.1` is passed too unless bind_loopback is False (the test of the
    config's own default), so no test listens beyond this machine by accident. cwd: another checkout to
    serve (default this one); port: a fixed port (default a free one)."""
    port = port or free_port()
    log_dir = Path(log_dir or tempfile.mkdtemp(prefix="arelu-server-"))
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "streamlit.log"
    full_env = {**os.environ, **(env or {})}
    full_env.setdefault("ARELU_RUNS_DIR", str(log_dir / "runs"))
    command = [sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
               *(["--server.address", "127.0.0.1"] if bind_loopback else []), "--server.headless", "true",
               *(args or [])]
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(command, cwd=cwd or REPO, env=full_env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"streamlit exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                if urllib.request.urlopen(url + "/_stcore/health", timeout=2).read() == b"ok":
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"streamlit did not start in {start_timeout:.0f} s: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield Server(url=url, port=port, proc=proc, log=log, started=started)
    finally:
        stop_process(proc)


def stop_process(proc: subprocess.Popen, timeout: float = 20.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=timeout)


def launch_chromium(playwright):
    if not Path(CHROMIUM).exists():
        raise RuntimeError(f"Debian's chromium is needed at {CHROMIUM} (apt-get install chromium)")
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


def wait_until_idle(page, timeout_s: float = 60.0, quiet_s: float = 0.6) -> None:
    """Streamlit shows its status widget while a script runs: wait for a quiet moment (sync API)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_s * 1000)
    deadline, quiet_since = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        busy = (page.locator('[data-testid="stStatusWidget"]').count() > 0
                or page.locator('[data-testid="stSkeleton"]').count() > 0)
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > quiet_s:
            return
        time.sleep(0.1)
    raise AssertionError("the page kept running")


# --------------------------------------------------------------------------- the Train live page (sync API)

CARD = re.compile(r"■\s*(?P<label>.+?)\s*·\s*(?P<status>.+)")


def start_race(page, activation: str | list[str], digits: str = "first 512", max_epochs: bool = False,
               click: bool = True) -> None:
    """On Train live: one activation (or a list of them) instead of the default pair, a training subset,
    then Start race (unless click is False: the caller clicks "Start race" later)."""
    page.get_by_role("button", name="Start race").wait_for(timeout=120_000)
    wait_until_idle(page)
    dismiss_dialogs(page)
    for default in ("ReLU", "AReLU"):
        remove = page.get_by_role("button", name=f"Remove {default}", exact=True)
        if remove.count():
            remove.first.click()
    for name in [activation] if isinstance(activation, str) else activation:
        box = page.get_by_role("combobox", name="Activations (one to four)", exact=True)
        box.click()
        box.fill(name)
        page.get_by_role("option", name=name, exact=True).first.click()
        page.keyboard.press("Escape")
    page.get_by_role("combobox", name="Training images", exact=True).click()
    page.get_by_role("option", name=digits, exact=True).first.click()
    if max_epochs:
        slider = page.get_by_role("slider", name="Epochs").first
        slider.focus()
        slider.press("End")
    if click:
        page.get_by_role("button", name="Start race").click()


def read_cards(page) -> list[tuple[str, str]]:
    """(label, status) of the job and result cards on Train live ("AReLU", "queued, position 1")."""
    cards = []
    for text in page.locator('[data-testid="stMarkdownContainer"]').all_inner_texts():
        for line in text.splitlines():
            match = CARD.search(line)
            if match:
                cards.append((match["label"].strip(), match["status"].strip()))
    return cards


def wait_for_cards(page, predicate, timeout_s: float = 120.0, what: str = "job cards"):
    deadline = time.monotonic() + timeout_s
    cards = []
    while time.monotonic() < deadline:
        cards = read_cards(page)
        if cards and predicate(cards):
            return cards
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}; last cards: {cards}")


def warm_up(browser, url: str) -> None:
    """Open the home page once, so the first measured or raced page load is not the server's first run."""
    page = browser.new_page()
    try:
        page.goto(url + "/")
        wait_until_idle(page, timeout_s=120)
    finally:
        page.close()


def dismiss_dialogs(page) -> list[str]:
    """Close Streamlit's modal dialogs (they make the page inert); returns what they said."""
    said = []
    for _ in range(3):
        dialog = page.locator('[role="dialog"]')
        if not dialog.count():
            break
        said.append(dialog.first.inner_text()[:200])
        print(f"dismissed a dialog: {said[-1]!r}", file=sys.stderr)
        page.keyboard.press("Escape")
        time.sleep(0.3)
    return said
