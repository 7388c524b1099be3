"""Deep links on a freshly started server.

Streamlit (1.67) decides once per server process, before any script has run, whether the app is a
legacy pages/-folder app (it is: pages/ sits beside app.py), and only a run of `st.navigation`
clears that flag. So if the first request after a start is a deep link such as /reproduce, Streamlit
runs pages/reproduce.py on its own: no app.py, hence a sidebar listing file names and no wide layout,
for every visitor until someone opens "/". Each page calls `through_app()` first: it clears the flag
and reruns, which now goes through app.py's `st.navigation` to the same page.
"""
from __future__ import annotations

import streamlit as st


def through_app() -> None:
    try:
        from streamlit.runtime.pages_manager import PagesManager
    except ImportError:      # a Streamlit without the legacy flag has nothing to clear
        return
    if getattr(PagesManager, "uses_pages_directory", False):
        PagesManager.uses_pages_directory = False
        st.rerun()
