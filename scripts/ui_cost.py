#!/usr/bin/env python
"""What the web UI costs a training: the same trainings through the browser and through the CLI.

1. CLI: `python -m arelu_core train --json` for each activation, all started at once (a race of two
   trains two models at the same time, so the CLI does too), samples/s from each process's JSON; once
   with torch's default threads and once with the threads the app gives each worker; the faster counts.
2. UI: `streamlit run app.py` on 127.0.0.1, headless Chromium (Debian's) opens Train live, picks the
   same activations and digits, starts the race with the live view at the page's default redraw, reads the
   measured redraw interval while it runs and each job's samples/s from its card at the end.

Throughput counts training steps only in both (the trainer leaves its evaluations out of samples/s),
so the difference is what serving and redrawing the page take from the trainings.

    .venv/bin/python scripts/ui_cost.py                           # AReLU alone, then ReLU + AReLU
    .venv/bin/python scripts/ui_cost.py --races AReLU --digits "first 10 000" --json

Run it on a quiet machine: anything else on the cores shows up as UI cost.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).absolute().parents[1]
sys.path.insert(0, str(REPO / "tests"))
from streamlit_server import (dismiss_dialogs, launch_chromium, read_cards, running_server,  # noqa: E402
                              start_race, wait_until_idle, warm_up)

from arelu_core.activations import activation_info, list_activations  # noqa: E402
from arelu_core.jobs import DONE, threads_per_training  # noqa: E402

REGISTRY_NAMES = {activation_info(key).name: key for key in list_activations()}   # "AReLU" -> "arelu"
DIGITS = {"all 60 000": None, "first 30 000": 30_000, "first 10 000": 10_000, "first 2 000": 2_000}
THROUGHPUT = re.compile(r"([\d,.]+) samples/s")
REDRAW = re.compile(r"redrawn every ([\d.]+) s")


def cli_race(labels: list[str], subset: int | None, data_dir: str, threads: int | None = None) -> list[float]:
    """samples/s of each training, all started at once as separate CLI processes (torch's default
    thread count, or `threads` per process as the app gives its workers)."""
    env = {**os.environ, **({"OMP_NUM_THREADS": str(threads)} if threads else {})}
    procs = []
    for label in labels:
        command = [sys.executable, "-m", "arelu_core", "train", "--activation", REGISTRY_NAMES[label],
                   "--epochs", "1", "--data-dir", data_dir, "--json"]
        if subset:
            command += ["--train-subset", str(subset)]
        procs.append(subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                      text=True))
    rates = []
    for proc in procs:
        out, _ = proc.communicate(timeout=900)
        if proc.returncode:
            raise RuntimeError(f"CLI training failed ({proc.returncode})")
        rates.append(json.loads(out.strip().splitlines()[-1])["samples_per_second"])
    return rates


TICKS = os.sysconf("SC_CLK_TCK")


def cpu_by_process(server_pid: int) -> dict[int, tuple[str, float]]:
    """pid -> (group, CPU seconds so far, from /proc) for the web server itself, its worker processes (the
    trainings) and our Chromium (its processes below this script: other browsers on a shared machine do not count)."""
    table = {}
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            stat = (proc / "stat").read_text().rsplit(") ", 1)[1].split()
            command = (proc / "cmdline").read_bytes()
        except (OSError, IndexError):   # ended meanwhile
            continue
        table[int(proc.name)] = (int(stat[1]), command, (int(stat[11]) + int(stat[12])) / TICKS)   # utime + stime
    ours = {os.getpid()}
    for _ in range(8):   # descendants of this script: the Playwright driver, then Chromium's processes
        ours |= {pid for pid, (ppid, _, _) in table.items() if ppid in ours}
    used = {}
    for pid, (ppid, command, seconds) in table.items():
        group = ("server" if pid == server_pid else "workers" if ppid == server_pid
                 else "browser" if pid in ours and b"chromium" in command else None)
        if group:
            used[pid] = (group, seconds)
    return used


class CpuMeter:
    """CPU seconds per group since start, sampled often enough to count worker processes that end in between."""

    def __init__(self, server_pid: int):
        self.server_pid = server_pid
        self.base = {pid: seconds for pid, (_, seconds) in cpu_by_process(server_pid).items()}
        self.latest: dict[int, tuple[str, float]] = {}

    def sample(self) -> None:
        self.latest.update(cpu_by_process(self.server_pid))

    def used(self) -> dict[str, float]:
        self.sample()
        totals = {"server": 0.0, "workers": 0.0, "browser": 0.0}
        for pid, (group, seconds) in self.latest.items():
            totals[group] += seconds - self.base.get(pid, 0.0)
        return totals


REDRAW_CHOICES = [0.5, 1.0, 2.0, 5.0]   # the page's "Redraw the live view every" choices
REDRAW_DEFAULT = 2.0                     # and its default (pages/train_live.py: REFRESH_DEFAULT)


def ui_race(browser, url: str, server_pid: int, labels: list[str], digits: str, redraw: float = REDRAW_DEFAULT,
            timeout_s: float = 900) -> dict:
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(url + "/train_live")
        start_race(page, labels, digits=digits)
        if redraw != REDRAW_DEFAULT:   # the redraw setting shows once the race runs
            slider = page.get_by_role("slider", name="Redraw the live view every")
            slider.wait_for(timeout=60_000)
            slider.focus()
            moves = REDRAW_CHOICES.index(redraw) - REDRAW_CHOICES.index(REDRAW_DEFAULT)
            for _ in range(abs(moves)):
                page.keyboard.press("ArrowRight" if moves > 0 else "ArrowLeft")
        meter, started = CpuMeter(server_pid), time.monotonic()
        redraws, deadline = [], time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            dismiss_dialogs(page)
            meter.sample()
            cards = read_cards(page)
            for text in page.locator('[data-testid="stCaptionContainer"]').all_inner_texts():
                match = REDRAW.search(text)
                if match:
                    redraws.append(float(match[1]))
            if cards and all(status.split(",")[0] in DONE for _, status in cards) \
                    and page.get_by_role("button", name="Clear results").count():
                break
            time.sleep(1.0)
        else:
            raise TimeoutError(f"the race did not finish in {timeout_s:.0f} s")
        cores = {group: round(seconds / (time.monotonic() - started), 2) for group, seconds in meter.used().items()}
        wait_until_idle(page)
        rates, captions = [], []
        for text in page.locator('[data-testid="stCaptionContainer"]').all_inner_texts():
            match = THROUGHPUT.search(text)
            if match:
                rates.append(float(match[1].replace(",", "")))
                captions.append(text.strip())     # "... samples/s · MNIST · cuda (NVIDIA H200) · ..." (the device)
        if len(rates) != len(labels):
            raise RuntimeError(f"expected {len(labels)} throughputs on the cards, read {rates}")
        return {"samples_per_second": rates, "card_captions": captions, "cores_busy": cores, "redraw_interval_median_s": statistics.median(redraws) if redraws else None,
                "redraw_interval_max_s": max(redraws) if redraws else None}
    finally:
        page.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--races", nargs="+", default=["AReLU", "ReLU,AReLU"],
                        help="comma-separated display names per race, e.g. AReLU or ReLU,AReLU")
    parser.add_argument("--digits", default="all 60 000", choices=list(DIGITS))
    parser.add_argument("--data-dir", default=os.environ.get("ARELU_DATA_DIR") or str(REPO.parent / "shared" / "data"))
    parser.add_argument("--redraw", type=float, default=REDRAW_DEFAULT, choices=REDRAW_CHOICES,
                        help=f"seconds between redraws of the live view (the page's setting; default {REDRAW_DEFAULT:g}, "
                             f"the page's)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    report, max_jobs = [], 2
    env = {"ARELU_DATA_DIR": args.data_dir, "ARELU_MAX_JOBS": str(max_jobs)}
    with running_server(env=env) as server, sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        try:
            warm_up(browser, server.url)
            for race in args.races:
                labels = race.split(",")
                # The CLI at its best: torch's default threads, or the app's per-worker setting if faster.
                cli_default = cli_race(labels, DIGITS[args.digits], args.data_dir)
                cli_matched = cli_race(labels, DIGITS[args.digits], args.data_dir, threads_per_training(len(labels)))
                cli = max(cli_default, cli_matched, key=sum)
                ui = ui_race(browser, server.url, server.proc.pid, labels, args.digits, args.redraw)
                cli_total, ui_total = sum(cli), sum(ui["samples_per_second"])
                row = {"race": labels, "digits": args.digits, "cores": len(os.sched_getaffinity(0)),
                       "cli_default_threads_samples_per_second": [round(r) for r in cli_default],
                       "cli_app_threads_samples_per_second": [round(r) for r in cli_matched],
                       "ui_samples_per_second": [round(r) for r in ui["samples_per_second"]],
                       "ui_cost_percent": round(100 * (1 - ui_total / cli_total), 1),
                       "cores_busy_during_race": ui["cores_busy"],
                       "redraw_interval_median_s": ui["redraw_interval_median_s"],
                       "redraw_interval_max_s": ui["redraw_interval_max_s"], "card_captions": ui["card_captions"]}
                report.append(row)
                print(f"{' + '.join(labels):>14}: CLI {cli_total:,.0f} samples/s, UI {ui_total:,.0f} samples/s "
                      f"(cost {row['ui_cost_percent']:+.1f}%), live view redrawn every "
                      f"{row['redraw_interval_median_s'] or float('nan'):.2f} s (median; max "
                      f"{row['redraw_interval_max_s'] or float('nan'):.2f} s); cores busy: web server "
                      f"{ui['cores_busy']['server']:.2f}, browser {ui['cores_busy']['browser']:.2f}, "
                      f"trainings {ui['cores_busy']['workers']:.2f}", flush=True)
        finally:
            browser.close()
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
