"""Hostile input, page side (the library side is test_fuzz.py).

- The Feature maps page gets hostile uploads (AppTest): each shows one st.error line or a digit, never
  an exception.
- Every page's sliders and number inputs set to their minimum, their maximum and beyond (what a forged
  websocket message could send): no exception. Train live is started with the extremes, then stopped.
- Crafted query parameters (../../etc/passwd, 20 000-character values, unknown and repeated keys,
  embed options, script tags): no exception.

The same through a real server and Chromium (crafted URL paths, the real upload route, the 5 MB cap)
is test_browser_fuzz.py.
"""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from test_fuzz import base_files, raw_png, solid_png_streamed

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "app.py"
RUN_TIMEOUT = 180


def app_pages() -> list[str]:
    """The pages app.py navigates to ("pages/home.py", ...), those present on disk."""
    pages = re.findall(r'st\.Page\("([^"]+)"', APP.read_text())
    return [page for page in pages if (REPO / page).is_file()]


@pytest.fixture(autouse=True)
def isolated(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ARELU_DATA_DIR", data_dir)
    monkeypatch.setenv("ARELU_RUNS_DIR", str(tmp_path / "runs"))


def open_page(page: str | None = None, query: dict | None = None) -> AppTest:
    at = AppTest.from_file(str(APP), default_timeout=RUN_TIMEOUT)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception, at.exception
    if page:
        at.switch_page(page).run()
        assert not at.exception, (page, at.exception)
    return at


def hostile_uploads() -> list[tuple[str, bytes, bool]]:
    """(file name, bytes, should give a digit)."""
    bases = base_files()
    return [
        ("empty.png", b"", False),
        ("random.png", bytes(range(256)) * 8, False),
        ("truncated.jpg", bases["jpeg_RGB"][: len(bases["jpeg_RGB"]) // 2], False),
        ("huge.png", solid_png_streamed(10_000, 10_000, 0), False),
        ("lying-header.png", raw_png(100_000, 100_000), False),
        ("ghostscript.png", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\nshowpage\n", False),
        ("page.png", b"<html><script>alert(1)</script></html>", False),
        ("transparent.png", bases["png_RGBA_transparent"], False),
        ("animated.gif", bases["gif_animated"], True),
        ("sixteen-bit.png", bases["png_16bit"], True),
        ("actually-a-jpeg.png", bases["jpeg_RGB"], True),
        ("strokes-rgba.png", bases["png_RGBA_strokes"], True),
    ]


def test_hostile_uploads_on_the_feature_maps_page():
    at = open_page("pages/inspect_digit.py")
    at.segmented_control(key="inspect_source").set_value("Upload").run()
    assert not at.exception
    for name, data, is_digit in hostile_uploads():
        at.file_uploader(key="inspect_upload").clear().upload(name, data, "image/png").run()
        assert not at.exception, (name, at.exception)
        errors = [e.value for e in at.error]
        if is_digit:
            assert not errors, (name, errors)
        else:
            assert len(errors) == 1 and errors[0].startswith(f"Cannot use {name}: "), (name, errors)
            assert "\n" not in errors[0] and len(errors[0]) < 300, errors[0]
            assert "unexpected" not in errors[0], errors[0]   # the library's own message, not a caught bug


# --------------------------------------------------------------------------- widgets at their limits

def numeric_widgets(at: AppTest):
    return [w for w in [*at.slider, *at.number_input] if isinstance(w.min, (int, float)) and not isinstance(w.min, bool)
            and isinstance(w.value, (int, float)) and not w.disabled]   # a disabled widget takes no input at all


def set_all(at: AppTest, which: str) -> list[str]:
    changed = []
    for widget in numeric_widgets(at):
        low, high = widget.min, widget.max if widget.max is not None else widget.min + 1
        span = max(abs(high - low), 1)
        value = {"min": low, "max": high, "below": low - 10 * span, "above": high + 10 * span}[which]
        if isinstance(widget.value, int) and isinstance(low, int):
            value = int(value)
        widget.set_value(value)
        changed.append(f"{widget.key or widget.label}={value}")
    return changed


@pytest.mark.parametrize("page", [p for p in app_pages() if not p.endswith("train_live.py")])
def test_sliders_and_number_inputs_at_and_beyond_their_limits(page):
    at = open_page(page)
    for which in ("min", "max", "below", "above", "min"):
        changed = set_all(at, which)
        at.run()
        assert not at.exception, (page, which, changed, at.exception)
        for error in at.error:   # a refusal must be one readable line, not a traceback in a box
            assert "Traceback" not in error.value and "\n" not in error.value.strip(), error.value


def test_train_live_started_with_extreme_settings(isolated):
    import sys
    at = open_page("pages/train_live.py")
    manager = sys.modules["ui.common"].get_job_manager()
    for which in ("below", "above", "max", "min"):
        at.multiselect(key="train_activations").set_value(["arelu"])
        changed = set_all(at, which)
        next(b for b in at.button if b.label == "Start race").click().run()
        assert not at.exception, (which, changed, at.exception)
        ids = at.session_state["train_job_ids"] if "train_job_ids" in at.session_state else []
        jobs = [job for job in (manager.get(at.session_state["arelu_owner_id"], i) for i in ids) if job]
        print(f"\n{which}: {changed} -> errors {[e.value for e in at.error]}, "
              f"jobs {[(j.status, j.config.epochs, j.config.activation_params, j.config.seed) for j in jobs]}")
        for job in jobs:  # whatever was sent, a training only ever gets values inside the widgets' ranges
            assert 1 <= job.config.epochs <= 20 and 0 <= job.config.seed <= 1_000_000, job.config
            assert 0 < job.config.activation_params["alpha"] < 1 and -5 <= job.config.activation_params["beta"] <= 5
        if not any(job.active for job in jobs):
            continue      # refused with a message, or nothing started: both fine
        stop = [b for b in at.button if b.label == "Stop"]
        if stop:
            stop[0].click().run()
            assert not at.exception
        assert manager.wait(jobs, 120), [job.status for job in jobs]
        at.run()
        assert not at.exception
        clear = [b for b in at.button if b.label == "Clear results"]
        if clear:
            clear[0].click().run()


# --------------------------------------------------------------------------- crafted query parameters

CRAFTED_QUERIES = [
    {"page": "../../etc/passwd"}, {"page": "..%2F..%2Fetc%2Fpasswd"}, {"page": "/etc/passwd"},
    {"page": "train", "x": "A" * 20_000}, {"a" * 5000: "b"}, {"embed": "true", "embed_options": "show_toolbar"},
    {"q": "<script>alert(1)</script>"}, {"page": "\x00\x01\x02"}, {"theme": "dark", "lang": "☃" * 100},
    {"arelu_owner_id": "someone-else"}, {"train_job_ids": "abc"},
]


@pytest.mark.parametrize("query", CRAFTED_QUERIES, ids=[str(i) for i in range(len(CRAFTED_QUERIES))])
def test_crafted_query_parameters(query):
    at = open_page(query=query)
    assert not at.exception
    at.switch_page("pages/train_live.py").run()
    assert not at.exception, at.exception
    # a query parameter never becomes the session's identity
    assert at.session_state["arelu_owner_id"] != "someone-else"
