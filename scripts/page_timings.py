#!/usr/bin/env python
"""How long each page takes to show, measured as a visitor sees it: `streamlit run app.py` on 127.0.0.1,
Debian's headless Chromium, a fresh browser context (no cache, a new session) for every load.

For each page and load: the time from navigation to the page's title (its first h1) and to "fully rendered"
(the title is there and Streamlit's running indicator has been gone for a quiet moment; the time is when it
went away). Prints the median and p95 of each over the loads.

    .venv/bin/python scripts/page_timings.py                       # every page, 10 loads each
    .venv/bin/python scripts/page_timings.py --loads 3 --pages /explore /inspect_digit --repo /tmp/old-checkout
    .venv/bin/python scripts/page_timings.py --compare /tmp/old-checkout    # this checkout and another, interleaved

The first load of each page is preceded by one unmeasured visit (the server imports the page's libraries
once per process), so the figures are what a class sees, not a server's cold start. Run it on a quiet
machine: anything else on the cores shows up in the figures. On a shared one, --compare serves a second checkout
beside this one and alternates their loads (one of each, page by page), so both see the same noise.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).absolute().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from streamlit_server import launch_chromium, running_server, wait_until_idle  # noqa: E402

PAGES = ["/", "/lesson", "/explore", "/gradient_flow", "/train_live", "/inspect_digit", "/reproduce"]
BUSY = '[data-testid="stStatusWidget"], [data-testid="stSkeleton"]'
TITLE = '[data-testid="stMain"] h1'
# One round trip to the page per poll: is there a title, is the script still running?
PROBE = f"() => [document.querySelector('{TITLE}') !== null, document.querySelector('{BUSY}') !== null]"


def load_once(browser, url: str, quiet_s: float = 0.8, timeout_s: float = 60.0) -> tuple[float, float]:
    """(seconds to the title, seconds to fully rendered) of one load in a fresh context."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    try:
        started = time.perf_counter()
        page.goto(url, wait_until="commit")
        title_at = rendered_at = None
        deadline = started + timeout_s
        while time.perf_counter() < deadline:
            has_title, busy = page.evaluate(PROBE)
            now = time.perf_counter()
            if has_title and title_at is None:
                title_at = now
            if busy or not has_title:
                rendered_at = None
            elif rendered_at is None:
                rendered_at = now
            elif now - rendered_at >= quiet_s:
                return title_at - started, rendered_at - started
            time.sleep(0.02)
        raise RuntimeError(f"{url} did not settle in {timeout_s:.0f} s")
    finally:
        context.close()


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(servers: dict[str, str], pages: list[str], loads: int) -> list[dict]:
    """servers: label -> base URL. Per page, the loads of the servers alternate (one each, `loads` times)."""
    from playwright.sync_api import sync_playwright
    rows = []
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            for path in pages:
                for url in servers.values():
                    warm = browser.new_page()      # unmeasured: the page's imports, once per server process
                    warm.goto(url + path)
                    wait_until_idle(warm, timeout_s=120)
                    warm.close()
                times = {label: ([], []) for label in servers}
                for _ in range(loads):
                    for label, url in servers.items():
                        title_s, rendered_s = load_once(browser, url + path)
                        times[label][0].append(title_s)
                        times[label][1].append(rendered_s)
                for label, (titles, rendered) in times.items():
                    rows.append({"server": label, "page": path, "loads": loads,
                                 "title_median_s": statistics.median(titles), "title_p95_s": p95(titles),
                                 "rendered_median_s": statistics.median(rendered), "rendered_p95_s": p95(rendered)})
                    print(f"{label:<8} {path:<16} title {rows[-1]['title_median_s']:.2f} s (p95 {rows[-1]['title_p95_s']:.2f})  "
                          f"rendered {rows[-1]['rendered_median_s']:.2f} s (p95 {rows[-1]['rendered_p95_s']:.2f})",
                          file=sys.stderr, flush=True)
        finally:
            browser.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--loads", type=int, default=10, help="loads per page (default 10)")
    parser.add_argument("--pages", nargs="+", default=PAGES, help="paths to load (default: every page)")
    parser.add_argument("--repo", type=Path, default=REPO, help="the checkout whose app.py to serve (default: this one)")
    parser.add_argument("--port", type=int, default=None, help="the server's port (default: a free one)")
    parser.add_argument("--compare", type=Path, default=None,
                        help="another checkout (the code before a change, say): served too, loads interleaved")
    parser.add_argument("--json", action="store_true", help="print the rows as JSON instead of a table")
    args = parser.parse_args(argv)
    if args.loads < 1:
        parser.error("--loads must be at least 1")
    with contextlib.ExitStack() as stack:
        servers = {"this": stack.enter_context(running_server(cwd=args.repo, port=args.port)).url}
        if args.compare:
            # The other checkout's own code: its folder first on the server's import path.
            servers["compare"] = stack.enter_context(running_server(
                cwd=args.compare, env={"PYTHONPATH": str(args.compare)})).url
        rows = measure(servers, args.pages, args.loads)
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    print(f"{'server':<8} {'page':<16} {'title median':>13} {'title p95':>10} {'rendered median':>16} {'rendered p95':>13}"
          f"  ({args.loads} loads each)")
    for row in rows:
        print(f"{row['server']:<8} {row['page']:<16} {row['title_median_s']:>12.2f}s {row['title_p95_s']:>9.2f}s "
              f"{row['rendered_median_s']:>15.2f}s {row['rendered_p95_s']:>12.2f}s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
