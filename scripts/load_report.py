"""The figures of a load test (scripts/load_test.py): one summary dict from the session reports and the
server's log and memory samples, and its printed form."""
from __future__ import annotations

import statistics
from dataclasses import asdict

from load_server import classify_tracebacks


def summarize(args, reports, racers: int, *, wall: float, startup: float, timed_out: bool, sampler, baseline_rss,
              first_lesson, work) -> dict:
    """Everything the run measured, as one JSON-able dict (what --json prints)."""
    from load_test_lesson import step_times
    loads = [(f"session {r.index}: {name}", seconds) for r in reports for name, seconds in r.page_loads.items()]
    slowest = max(loads, key=lambda item: item[1]) if loads else ("-", 0.0)
    log_text = (work / "streamlit.log").read_text(errors="replace")
    app_tracebacks, internal_tracebacks = classify_tracebacks(log_text)
    server_tracebacks = len(app_tracebacks)
    summary = {
        "sessions": args.sessions, "max_jobs": args.max_jobs, "wall_seconds": round(wall, 1),
        "server_startup_seconds": round(startup, 1),
        "timed_out": timed_out,
        "sessions_finished": sum(1 for r in reports if r.final_status and r.final_status.startswith("finished")),
        "sessions_seen_queued": sum(1 for r in reports if "queued" in r.statuses_seen),
        "max_queue_position": max((p for r in reports for p in r.queue_positions), default=0),
        "cross_session_leaks": {r.index: r.leaked for r in reports if r.leaked},
        "session_errors": {r.index: r.errors for r in reports if r.errors},
        "server_tracebacks": server_tracebacks,            # through our code (pages/, arelu_core/, app.py)
        "server_internal_tracebacks": len(internal_tracebacks),  # only streamlit/uvicorn frames
        "server_traceback_heads": [t[:300] for t in app_tracebacks[:3]] + [t[-300:] for t in internal_tracebacks[:2]],
        "server_rss_baseline_mb": round(baseline_rss, 0) if baseline_rss is not None else None,
        "server_rss_peak_mb": round(max(sampler.samples, default=0.0), 0) if sampler else None,
        "slowest_page_load": {"where": slowest[0], "seconds": slowest[1]},
        "median_page_load_seconds": round(statistics.median([s for _, s in loads]), 2) if loads else None,
        "racers": racers,
        "lesson_step_times": step_times(reports) if args.lesson else None,
        "lesson_first_load_seconds": first_lesson,
        "sessions_detail": [asdict(r) for r in reports],
        "server_log": str(work / "streamlit.log"),
    }
    return summary


def print_summary(s: dict) -> None:
    print(f"AReLU Lab load test: {s['sessions']} sessions, ARELU_MAX_JOBS={s['max_jobs']}, "
          f"{s['wall_seconds']} s{' (TIMED OUT)' if s['timed_out'] else ''}")
    print(f"  server start-up                {s['server_startup_seconds']} s")
    print(f"  sessions whose job finished    {s['sessions_finished']} / {s['racers']}")
    print(f"  sessions that saw 'queued'     {s['sessions_seen_queued']} (deepest position {s['max_queue_position']})")
    print(f"  cross-session leaks            {len(s['cross_session_leaks'])} {s['cross_session_leaks'] or ''}")
    print(f"  sessions with errors           {len(s['session_errors'])}")
    dialogs = sum(len(r["dialogs"]) for r in s["sessions_detail"])
    if dialogs:
        print(f"  dialogs dismissed              {dialogs} ('Page not found' over the right page: streamlit#9992)")
    for index, errors in s["session_errors"].items():
        for error in errors[:5]:
            print(f"    session {index}: {error}")
    print(f"  tracebacks in the server log   {s['server_tracebacks']} through our code, "
          f"{s['server_internal_tracebacks']} inside streamlit/uvicorn only")
    print(f"  server RSS                     {s['server_rss_baseline_mb']} MB idle -> {s['server_rss_peak_mb']} MB peak")
    print(f"  slowest page load              {s['slowest_page_load']['seconds']} s ({s['slowest_page_load']['where']})")
    print(f"  median page load               {s['median_page_load_seconds']} s")
    if s["lesson_step_times"]:
        from load_test_lesson import print_step_times     # lesson mode's module (it imports this one)
        print(f"  first Lesson load (cold server) {s['lesson_first_load_seconds']} s")
        print_step_times(s["lesson_step_times"])
    for r in s["sessions_detail"]:
        loads = ", ".join(f"{k} {v}" for k, v in r["page_loads"].items())
        print(f"  session {r['index']:>2} {r['activation']:<8} {r['final_status'] or '-':<10} "
              f"statuses {'/'.join(r['statuses_seen'])} positions {r['queue_positions']} {r['seconds']} s | {loads}")
