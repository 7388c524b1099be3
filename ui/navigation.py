"""Deep links on a freshly started server.

Streamlit (1.67) decides once per server process, before any script has run, whether the app is a
legacy pages/-folder app (it is: pages/ sits beside app.py), and only a run of `st.navigation`
clears that flag. So if the first request after a start is a deep link such as /reproduce, Streamlit
runs pages/reproduce.py on its own: no app.py, hence a sidebar listing file names and no wide layout,
for every visitor until someone opens "/". Each page calls `through_app()` first: it clears the flag
and reruns, which now goes through app.py's `st.navigation` to the same page (each page's address is
its file name, which both modes resolve alike, so there is no "Page not found" on the way).

A rerun would drop a click that caused the run. On a server that cannot happen (the flag is only set
before the first run of the first session), but Streamlit's AppTest starts every run in the legacy
mode; so a run that is not its session's first runs app.py in place instead, keeping the click.
"""
from __future__ import annotations

import runpy
from pathlib import Path

import streamlit as st

APP = Path(__file__).resolve().parents[1] / "app.py"
_SEEN = "_through_app_seen"


def through_app() -> None:
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:      # a Streamlit without the legacy flag has nothing to clear
        return
    first_run = _SEEN not in st.session_state
    st.session_state[_SEEN] = True
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        if first_run:        # a page load: no click to keep, and the browser gets app.py's sidebar alone
            st.rerun()
        runpy.run_path(str(APP), run_name="__main__")
        st.stop()            # the page already ran inside app.py
