"""Deep links on a freshly started server.

Streamlit (1.67) decides once per server process, before any script has run, whether the app is a
legacy pages/-folder app (it is: pages/ sits beside app.py), and only a run of `st.navigation`
clears that flag. So if the first request after a start is a deep link such as /reproduce, Streamlit
runs pages/reproduce.py on its own: no app.py, hence a sidebar listing file names and no wide layout,
for every visitor until someone opens "/". Each page calls `through_app()` first: it clears the flag
and runs app.py in its place, in the same run, so app.py's `st.navigation` draws the real sidebar and
runs the same page (each page's address is its file name, which both modes resolve alike). No rerun:
a rerun would drop the click that caused this run (AppTest starts every run in the legacy mode).
"""
from __future__ import annotations

import runpy
from pathlib import Path

import streamlit as st

APP = Path(__file__).resolve().parents[1] / "app.py"


def through_app() -> None:
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:      # a Streamlit without the legacy flag has nothing to clear
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        runpy.run_path(str(APP), run_name="__main__")
        st.stop()            # the page already ran inside app.py
