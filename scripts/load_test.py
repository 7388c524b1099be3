#!/usr/bin/env python
"""A classroom in a box: N browser sessions against one local `streamlit run app.py`.

Starts the app on a free port of 127.0.0.1 (never anything else) with ARELU_MAX_JOBS=2, opens one
headless Chromium (Debian's, /usr/bin/chromium) with N isolated contexts, and in each session:

  1. opens Train live, picks one activation of its own (so a leak would show a stranger's label),
     the first 512 training digits, and starts the race;
  2. reads its job card: "running" or "queued, position N";
  3. browses every other page through the sidebar while its job runs or waits, timing each load
     and looking for error elements and JavaScript exceptions;
  4. returns to Train live and waits until its job shows in the results as finished.

Meanwhile the server's resident memory (the process and its children) is sampled. At the end it prints
the figures: sessions held, jobs finished, queue positions seen, cross-session leaks, errors, peak RSS,
page-load times. Bounded: N sessions, one job each, a hard time limit (--timeout, default 300 s) after
which everything is torn down and the script exits non-zero.

    .venv/bin/python scripts/load_test.py                    # 10 sessions, 2 training slots
    .venv/bin/python scripts/load_test.py --sessions 3 --json  # the quick form tests/test_load.py runs
    .venv/bin/python scripts/load_test.py --lesson --sessions 30 --racers 6   # a class walking the Lesson
                                                               # (scripts/load_test_lesson.py)

Exit code: 0 all good, 1 errors / leaks / unfinished jobs, 2 the time limit was hit.
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from load_report import print_summary, summarize  # noqa: E402
from load_server import RssSampler, free_port, start_server, stop_process, wait_healthy  # noqa: E402

REPO = Path(__file__).absolute().parents[1]
CHROMIUM = os.environ.get("ARELU_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update", "--disable-dev-shm-usage"]
ERROR_SELECTORS = '[data-testid="stException"], [data-testid="stAlertContentError"]'
# One activation per session, each with a distinct label on the page (a cheap one first).
ACTIVATIONS = ["ReLU", "AReLU", "ELU", "CELU", "GELU", "SELU", "Swish", "Tanh", "Softplus", "LReLU", "PReLU",
               "Sigmoid", "ReLU6", "RReLU", "SLAF", "APL"]
OTHER_PAGES = ["Home", "Explore the function", "Gradient flow", "Feature maps & Grad-CAM", "Reproduce the paper"]
DONE = ("finished", "stopped", "diverged", "failed")
CARD = re.compile(r"■\s*(?P<label>.+?)\s*·\s*(?P<status>.+)")


@dataclass
class SessionReport:
    index: int
    activation: str
    statuses_seen: list[str] = field(default_factory=list)   # distinct statuses, in the order seen
    queue_positions: list[int] = field(default_factory=list)
    labels_seen: list[str] = field(default_factory=list)      # every job label shown to this session
    final_status: str | None = None
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)             # Streamlit dialogs dismissed on the way
    page_loads: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def leaked(self) -> list[str]:
        return sorted(set(self.labels_seen) - {self.activation})


# --------------------------------------------------------------------------- one session

async def wait_idle(page, timeout_s: float = 90.0, quiet_s: float = 0.5) -> None:
    """Until Streamlit's 'running' widget and skeletons have been gone for quiet_s."""
    await page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_s * 1000)
    deadline, quiet_since = time.monotonic() + timeout_s, None
    while time.monotonic() < deadline:
        busy = (await page.locator('[data-testid="stStatusWidget"]').count() > 0
                or await page.locator('[data-testid="stSkeleton"]').count() > 0)
        if busy:
            quiet_since = None
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since > quiet_s:
            return
        await asyncio.sleep(0.1)
    raise TimeoutError(f"the page kept running for {timeout_s:.0f} s")


async def collect_errors(page, where: str, report: SessionReport) -> None:
    errors = page.locator(ERROR_SELECTORS)
    for i in range(await errors.count()):
        report.errors.append(f"{where}: {(await errors.nth(i).inner_text())[:200]}")
    if "Traceback (most recent call last)" in await page.content():
        report.errors.append(f"{where}: a traceback is shown")


async def read_cards(page) -> list[tuple[str, str]]:
    """(label, status) of every job card and result card on the Train live page."""
    cards = []
    for text in await page.locator('[data-testid="stMarkdownContainer"]').all_inner_texts():
        for line in text.splitlines():
            match = CARD.search(line)
            if match:
                cards.append((match["label"].strip(), match["status"].strip()))
    return cards


def note_cards(report: SessionReport, cards: list[tuple[str, str]]) -> None:
    for label, status in cards:
        report.labels_seen.append(label) if label not in report.labels_seen else None
        kind = status.split(",")[0].strip()
        if kind not in report.statuses_seen:
            report.statuses_seen.append(kind)
        position = re.search(r"position (\d+)", status)
        if position and int(position[1]) not in report.queue_positions:
            report.queue_positions.append(int(position[1]))


async def goto_sidebar(page, name: str) -> None:
    link = page.get_by_role("link", name=name, exact=True).first
    await link.click()


async def timed_visit(page, name: str, report: SessionReport) -> None:
    started = time.perf_counter()
    await goto_sidebar(page, name)
    await wait_idle(page)
    report.page_loads[name] = round(time.perf_counter() - started, 2)
    await collect_errors(page, name, report)


async def start_race(page, activation: str, report: SessionReport) -> None:
    started = time.perf_counter()
    await page.get_by_role("button", name="Start race").wait_for(timeout=120_000)
    await wait_idle(page)
    report.page_loads["Train live (first)"] = round(time.perf_counter() - started, 2)
    for _ in range(3):   # Streamlit's "Page not found" dialog over the right page (streamlit#9992) makes it inert
        dialog = page.locator('[role="dialog"]')
        if not await dialog.count():
            break
        report.dialogs.append((await dialog.first.inner_text())[:120].replace("\n", " "))
        await page.keyboard.press("Escape")
        await asyncio.sleep(0.3)
    for default in ("ReLU", "AReLU"):                 # the page's default pair
        remove = page.get_by_role("button", name=f"Remove {default}", exact=True)
        if await remove.count():
            await remove.first.click()
    box = page.get_by_role("combobox", name="Activations (one to four)", exact=True)
    await box.click()
    await box.fill(activation)
    await page.get_by_role("option", name=activation, exact=True).first.click()
    await page.keyboard.press("Escape")
    digits = page.get_by_role("combobox", name="Training images", exact=True)
    await digits.click()
    await page.get_by_role("option", name="first 512", exact=True).first.click()
    await page.get_by_role("button", name="Start race").click()
    # the race's card appears: running, or queued with its place
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        cards = await read_cards(page)
        if cards:
            note_cards(report, cards)
            return
        await asyncio.sleep(0.2)
    raise TimeoutError("no job card after Start race")


async def wait_for_results(page, report: SessionReport, timeout_s: float) -> None:
    """Until the race's results are drawn: every card done, and the results' own controls on the page
    ("Clear results"; the "Results" heading itself was once seen missing while the rest was drawn)."""
    deadline = time.monotonic() + timeout_s
    cards, drawn = [], False
    while time.monotonic() < deadline:
        cards = await read_cards(page)
        note_cards(report, cards)
        drawn = (await page.get_by_role("button", name="Clear results").count() > 0
                 or await page.get_by_role("heading", name="Results").count() > 0)
        if drawn and cards and all(status.split(",")[0] in DONE for _, status in cards):
            report.final_status = cards[-1][1]
            return
        await asyncio.sleep(0.5)
    stop_shown = await page.get_by_role("button", name="Stop").count() > 0
    raise TimeoutError(f"no finished result in {timeout_s:.0f} s (last cards: {cards}, results drawn: {drawn}, "
                       f"'Stop' still shown: {stop_shown})")


async def screenshot(page, folder: Path | None, index: int) -> None:
    """A picture and the text of the page where a session failed (the main area scrolls by itself)."""
    if folder:
        try:
            await page.screenshot(path=str(folder / f"session-{index}-failure.png"), full_page=True)
            text = await page.locator('[data-testid="stMain"]').inner_text()
            running = await page.locator('[data-testid="stStatusWidget"]').count()
            (folder / f"session-{index}-failure.txt").write_text(f"status widget shown: {bool(running)}\n\n{text}")
        except Exception:  # noqa: BLE001 - diagnostics are a nicety
            pass


async def in_session(browser, index: int, report: SessionReport, body, shots: Path | None = None,
                     viewport: tuple[int, int] = (1400, 1000)) -> None:
    """One session in its own browser context: `await body(page)`; a failure is a finding (with a picture of
    where it stood), never a crash of the script."""
    started = time.perf_counter()
    context = await browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = await context.new_page()
    page.on("pageerror", lambda exc: report.errors.append(f"javascript: {str(exc)[:200]}"))
    try:
        await body(page)
    except Exception as exc:  # a session that breaks is a finding, not a crash of the script
        report.errors.append(f"session {index}: {type(exc).__name__}: {(str(exc).splitlines() or [''])[0][:300]}")
        await screenshot(page, shots, index)
    except asyncio.CancelledError:  # the global time limit: keep a picture of where it stood, then stop
        report.errors.append(f"session {index}: still going at the time limit")
        await screenshot(page, shots, index)
        raise
    finally:
        report.seconds = round(time.perf_counter() - started, 1)
        await context.close()


async def run_session(browser, url: str, index: int, report: SessionReport, pages: list[str], deadline: float,
                      shots: Path | None = None):
    async def body(page):
        await page.goto(url + "/train_live", timeout=120_000)
        await start_race(page, report.activation, report)
        await collect_errors(page, "Train live", report)
        for name in pages:                          # browse while the job runs or waits
            await timed_visit(page, name, report)
        started_back = time.perf_counter()
        await goto_sidebar(page, "Train live")
        # back with a race shown: the settings (and Start race) fold away in their expander; its header shows
        await page.locator('[data-testid="stExpander"]').first.wait_for(timeout=120_000)
        report.page_loads["Train live (back)"] = round(time.perf_counter() - started_back, 2)
        # give up a little before the global limit, so that this session reports what it saw itself
        await wait_for_results(page, report, max(5.0, deadline - time.monotonic() - 15))
        await collect_errors(page, "Train live results", report)

    await in_session(browser, index, report, body, shots)


async def drive(url: str, reports: list[SessionReport], timeout: float, stagger: float,
                pages: list[str] = tuple(OTHER_PAGES), shots: Path | None = None) -> None:
    """Run every session at once (staggered starts); the reports fill in as they go, even on a timeout."""
    from playwright.async_api import async_playwright
    deadline = time.monotonic() + timeout
    sessions = len(reports)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            # which pages the navigation offers (a page still being written is simply not browsed)
            probe = await browser.new_page()
            await probe.goto(url + "/", timeout=120_000)
            await wait_idle(probe)
            offered = [name for name in pages if await probe.get_by_role("link", name=name, exact=True).count()]
            await probe.close()

            async def delayed(i):
                await asyncio.sleep(i * stagger)
                await run_session(browser, url, i, reports[i], offered, deadline, shots)

            await asyncio.wait_for(asyncio.gather(*(delayed(i) for i in range(sessions))),
                                   timeout=max(1.0, deadline - time.monotonic()))
        finally:
            await browser.close()


# --------------------------------------------------------------------------- main

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=10)
    parser.add_argument("--max-jobs", type=int, default=2, help="ARELU_MAX_JOBS for the server")
    parser.add_argument("--timeout", type=float, default=300.0, help="hard limit for the whole run, seconds")
    parser.add_argument("--stagger", type=float, default=0.5, help="seconds between session starts")
    parser.add_argument("--no-browse", action="store_true", help="skip browsing the other pages")
    parser.add_argument("--pages", default=",".join(OTHER_PAGES),
                        help="comma-separated sidebar names of the pages each session browses (default: all)")
    parser.add_argument("--lesson", action="store_true",
                        help="lesson mode: every session walks the Lesson's steps, Reveal included (scripts/load_test_lesson.py)")
    parser.add_argument("--racers", type=int, default=2, help="lesson mode: how many sessions also race on Train live")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON line at the end")
    parser.add_argument("--dump-stacks", metavar="PY_SPY",
                        help="path to py-spy: when a session fails, dump the server's thread stacks before stopping it")
    parser.add_argument("--data-dir", default=os.environ.get("ARELU_DATA_DIR") or str(REPO.parent / "shared" / "data"),
                        help="MNIST for the server (default: $ARELU_DATA_DIR, else ../shared/data as scripts/test.sh)")
    args = parser.parse_args(argv)
    if not 1 <= args.sessions <= 40:
        parser.error("--sessions must be 1..40 (this is a bounded test)")
    if not 10 <= args.timeout <= 900:
        parser.error("--timeout must be 10..900 seconds")
    raw = Path(args.data_dir) / "MNIST" / "raw"
    if not all((raw / n).exists() or (raw / (n + ".gz")).exists() for n in
               ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")):
        print(f"MNIST is needed for the trainings: none in {raw} (pass --data-dir or set ARELU_DATA_DIR)", file=sys.stderr)
        return 1
    if not Path(CHROMIUM).exists():
        print(f"Debian's chromium is needed at {CHROMIUM}", file=sys.stderr)
        return 1

    work = Path(tempfile.mkdtemp(prefix="arelu-load-"))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "ARELU_MAX_JOBS": str(args.max_jobs), "ARELU_RUNS_DIR": str(work / "runs"),
           "ARELU_DATA_DIR": str(Path(args.data_dir).absolute())}
    proc = start_server(port, env, work / "streamlit.log")
    hard_stop = threading.Timer(args.timeout + 60, lambda: (stop_process(proc), os._exit(2)))
    hard_stop.daemon = True
    hard_stop.start()                                   # whatever hangs, the run ends
    sampler = None
    timed_out = False
    reports = [SessionReport(i, ACTIVATIONS[i % len(ACTIVATIONS)]) for i in range(args.sessions)]
    racers = min(max(args.racers, 0), args.sessions) if args.lesson else args.sessions   # sessions with a job
    first_lesson = [None]
    started = time.perf_counter()
    try:
        try:
            startup = wait_healthy(url, proc, timeout=min(120.0, args.timeout))
        except RuntimeError as exc:
            print(f"the server did not start: {exc}\n{(work / 'streamlit.log').read_text()[-3000:]}", file=sys.stderr)
            return 1
        sampler = RssSampler(proc.pid)
        baseline_rss = sampler.rss_mb()
        sampler.start()
        try:
            pages = [] if args.no_browse else [name.strip() for name in args.pages.split(",") if name.strip()]
            left = args.timeout - (time.perf_counter() - started)
            if args.lesson:
                from load_test_lesson import drive_lesson
                asyncio.run(drive_lesson(url, reports, left, args.stagger, racers, shots=work, first_load=first_lesson))
            else:
                asyncio.run(drive(url, reports, left, args.stagger, pages=pages, shots=work))
        except (asyncio.TimeoutError, TimeoutError):
            timed_out = True
        if args.dump_stacks and any(r.errors for r in reports):
            dump = subprocess.run([args.dump_stacks, "dump", "--pid", str(proc.pid)], capture_output=True, text=True,
                                  timeout=60)
            (work / "server-stacks.txt").write_text(dump.stdout + dump.stderr)
    finally:
        if sampler is not None:
            sampler.stop.set()
            sampler.join(timeout=5)
        stop_process(proc)
        hard_stop.cancel()
    wall = time.perf_counter() - started

    summary = summarize(args, reports, racers, wall=wall, startup=startup, timed_out=timed_out, sampler=sampler,
                        baseline_rss=baseline_rss if sampler else None, first_lesson=first_lesson[0], work=work)
    print_summary(summary)
    if args.json:
        print(json.dumps(summary))
    if timed_out:
        return 2
    ok = (summary["sessions_finished"] == racers and not summary["cross_session_leaks"]
          and not summary["session_errors"] and not summary["server_tracebacks"])
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
