"""The lesson mode of scripts/load_test.py: a class walking the Lesson together on one server.

Each session opens /lesson?step=1, makes its own prediction on step 1 (so a stranger's would show),
then for every step presses Reveal and Next, timing each step switch and each Reveal (until the new
step is drawn and Streamlit's running indicator is gone) and looking for errors. The first --racers
sessions first start a race on Train live (queued behind ARELU_MAX_JOBS) and, after the lesson, wait
for it to finish. load_test.py starts the server, samples its memory and prints the common figures;
this module drives the sessions and summarises the step times (median and p95 per step).
"""
from __future__ import annotations

import asyncio
import math
import re
import statistics
import time

from load_test import (CHROMIUM, CHROMIUM_ARGS, SessionReport, collect_errors, in_session, start_race,
                       wait_for_results, wait_idle)

STEP_OF = re.compile(r"Step (\d+) of (\d+)")


async def settled(page, ready, timeout_s: float = 90.0) -> None:
    """Until `ready()` holds and no running indicator shows (polled every 50 ms)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if await ready() and not await page.locator('[data-testid="stStatusWidget"]').count():
            return
        await asyncio.sleep(0.05)
    raise TimeoutError(f"the lesson did not settle in {timeout_s:.0f} s")


async def shown_step(page) -> tuple[int, int] | None:
    text = " ".join(await page.locator('[data-testid="stProgress"]').all_inner_texts())
    match = STEP_OF.search(text)
    return (int(match[1]), int(match[2])) if match else None


async def walk_lesson(page, url: str, report: SessionReport, index: int, via_sidebar: bool) -> None:
    """via_sidebar: open the Lesson from the menu, in the same session (a racer keeps its race; a page load
    would start a new session), else by its link, /lesson?step=1."""
    started = time.perf_counter()
    if via_sidebar:     # Train live redraws itself every 2 s: on a busy CPU a click may wait well over 30 s
        await page.get_by_role("link", name="Lesson", exact=True).first.click(timeout=180_000)
    else:
        await page.goto(url + "/lesson?step=1", timeout=120_000)
    await settled(page, lambda: _is_step(page, 1))
    report.page_loads["lesson step 1"] = round(time.perf_counter() - started, 2)
    await wait_idle(page)
    _, steps = await shown_step(page)
    options = page.locator('[data-testid="stRadio"] [role="radiogroup"] label')
    choice = options.nth(index % await options.count())
    mine = (await choice.inner_text()).strip()
    await choice.click()
    await wait_idle(page)
    for number in range(1, steps + 1):
        if number > 1:
            started = time.perf_counter()
            await page.get_by_role("button", name="Next").click()
            await settled(page, lambda n=number: _is_step(page, n))
            report.page_loads[f"lesson step {number}"] = round(time.perf_counter() - started, 2)
        if f"step={number}" not in page.url:
            report.errors.append(f"lesson step {number}: the URL says {page.url}")
        started = time.perf_counter()
        await page.get_by_role("button", name="Reveal the answer").click()
        await settled(page, lambda: _revealed(page))
        report.page_loads[f"lesson step {number} reveal"] = round(time.perf_counter() - started, 2)
        await collect_errors(page, f"lesson step {number}", report)
        if number == 1:     # the page repeats this session's own prediction, never another's
            text = " ".join((await page.locator('[data-testid="stMain"]').inner_text()).split())
            if f"Your prediction, {mine}, is" not in text and f"Your prediction was {mine}; the" not in text:
                said = re.search(r"Your prediction.{0,120}", text)
                report.labels_seen.append(f"not my prediction {mine!r}: {said[0] if said else 'none shown'}")


async def _is_step(page, number: int) -> bool:
    """The progress bar and the step's heading both name step `number` (the heading is drawn after the bar)."""
    shown = await shown_step(page)
    heading = page.get_by_role("heading", name=re.compile(rf"^{number}\. "))
    return shown is not None and shown[0] == number and await heading.count() > 0


async def _revealed(page) -> bool:
    return await page.get_by_role("button", name="Reveal the answer").count() == 0


async def lesson_session(browser, url: str, index: int, report: SessionReport, racer: bool, deadline: float,
                         shots=None) -> None:
    async def body(page):
        if racer:
            await page.goto(url + "/train_live", timeout=120_000)
            await start_race(page, report.activation, report)
        await walk_lesson(page, url, report, index, via_sidebar=racer)
        if racer:
            await page.get_by_role("link", name="Train live", exact=True).first.click(timeout=180_000)
            await wait_for_results(page, report, max(5.0, deadline - time.monotonic() - 15))

    await in_session(browser, index, report, body, shots, viewport=(1400, 900))


async def drive_lesson(url: str, reports: list[SessionReport], timeout: float, stagger: float, racers: int,
                       shots=None, first_load: list | None = None) -> None:
    """first_load[0]: seconds of the first Lesson load on the fresh server (the teacher's, before the class)."""
    first_load = first_load if first_load is not None else [None]
    from playwright.async_api import async_playwright
    deadline = time.monotonic() + timeout
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            # the teacher opens the Lesson first (a cold server's first load is reported apart)
            probe = await browser.new_page()
            started = time.perf_counter()
            await probe.goto(url + "/lesson?step=1", timeout=120_000)
            await settled(probe, lambda: _is_step(probe, 1), timeout_s=180)
            first_load[0] = round(time.perf_counter() - started, 2)
            await probe.close()

            async def delayed(i):
                await asyncio.sleep(i * stagger)
                await lesson_session(browser, url, i, reports[i], i < racers, deadline, shots)

            await asyncio.wait_for(asyncio.gather(*(delayed(i) for i in range(len(reports)))),
                                   timeout=max(1.0, deadline - time.monotonic()))
        finally:
            await browser.close()


def step_times(reports: list[SessionReport]) -> dict[str, dict]:
    """Per lesson step (and its Reveal): sessions measured, median and p95 seconds."""
    names = sorted({name for r in reports for name in r.page_loads if name.startswith("lesson step")},
                   key=lambda n: (int(n.split()[2]), n))
    table = {}
    for name in names:
        values = sorted(r.page_loads[name] for r in reports if name in r.page_loads)
        p95 = values[max(0, math.ceil(0.95 * len(values)) - 1)]      # nearest rank
        table[name] = {"n": len(values), "median": round(statistics.median(values), 2), "p95": p95}
    return table


def print_step_times(table: dict[str, dict]) -> None:
    print("  lesson step times (s)          n  median   p95")
    for name, row in table.items():
        print(f"    {name:<28} {row['n']:>2}  {row['median']:>6.2f} {row['p95']:>6.2f}")
