"""The view is the link: every setting of a page lives in the URL, and the page offers that URL to copy.

The widgets bind themselves to the URL (Streamlit's `bind="query-params"`, the widget's key is the parameter's
name; see docs/ARCHITECTURE.md, "Links"). Streamlit drops a parameter it cannot use (garbage, an unknown
option, a number out of range) without a word, so a page also tells its ViewLink what each bound widget
ended up showing:

    link = ViewLink("explore")                 # right under the title: the note and the link go there
    alpha = link.add("explore_alpha", st.slider(..., key="explore_alpha", bind=BIND), default=0.25)
    ...
    link.render()                              # before any st.stop(): one note for what the URL asked and
                                               # did not get, and the "Link to this view" button

A URL value is what Streamlit writes: the option's label (format_func's text), a number as a number.
"""
from __future__ import annotations

import math
from typing import Any, Callable
from urllib.parse import urlencode

import streamlit as st

BIND = "query-params"
_CHECKED = "_view_link_checked_"      # + page: this session already compared that page's URL with its widgets


def _text(value: Any, format_func: Callable[[Any], str] | None) -> str:
    if format_func is not None:
        return str(format_func(value))
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        return f"{value:.10g}"
    return str(value)


def url_values(value: Any, format_func: Callable[[Any], str] | None = None) -> list[str]:
    """A widget's value as the URL writes it: one string, or one per item of a list (a multiselect's)."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    return [_text(item, format_func) for item in items]


def _same(asked: list[str], shown: list[str]) -> bool:
    """Did the widget take the URL's value? Numbers compare as numbers ("0.50" is 0.5)."""
    if len(asked) != len(shown):
        return False
    for a, b in zip(asked, shown):
        if a == b:
            continue
        try:
            if not math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12):
                return False
        except ValueError:
            return False
    return True


def _shown(values: list[str]) -> str:
    return ", ".join(values) if values else "nothing"


class ViewLink:
    """One page's link: the URL it was opened with, the values its widgets show, the link to share."""

    def __init__(self, page: str):
        self.page = page                      # its address: "explore" (Home: "")
        self.first_visit = _CHECKED + page not in st.session_state
        # Only a page load carries a URL to check: later reruns keep Streamlit's first copy of the query string.
        self.asked = ({key: st.query_params.get_all(key) for key in st.query_params} if self.first_visit else {})
        self.params: dict[str, list[str]] = {}
        self.known: set[str] = set()
        self.problems: list[str] = []
        self.top = st.container()
        self.button = None                    # where the "Link to this view" button goes (default: under the title)

    def add(self, key: str, value: Any, default: Any, format_func: Callable[[Any], str] | None = None) -> Any:
        """Record what the widget bound to `key` shows (returns the value, to write it in one line)."""
        self.known.add(key)
        shown = url_values(value, format_func)
        if shown != url_values(default, format_func):
            self.params[key] = shown
        asked = self.asked.get(key)
        if asked and not _same(asked, shown):
            self.problems.append(f"`{key}={_shown(asked)}` is not a valid value here (showing {_shown(shown)})")
        return value

    def expect(self, *keys: str) -> None:
        """Settings of this page that this run did not show (a view that needs no digit, say): not unknown."""
        self.known.update(keys)

    def url(self) -> str:
        base = st.context.url or f"/{self.page}"
        query = urlencode([(key, v) for key, values in self.params.items() for v in values])
        return f"{base}?{query}" if query else base

    def render(self) -> None:
        """The note (first visit only) and the link, in the container made under the title."""
        if self.rendered:
            return
        self.rendered = True
        unknown = [key for key in self.asked if key not in self.known]
        problems = self.problems + [f"`{key}` is not a setting of this page" for key in unknown]
        with self.top:
            if problems:
                st.warning("This link asks for settings this page cannot show; each is left out or back at its default: "
                           + "; ".join(problems) + ".", icon=":material/link_off:")
        with self.button or self.top:
            with st.popover("Link to this view", icon=":material/link:"):
                st.caption("This page with these settings: copy it (the button at the right) and share it.")
                st.code(self.url(), language=None, wrap_lines=True)
        st.session_state[_CHECKED + self.page] = True

    rendered = False


def titled(title: str, page: str) -> ViewLink:
    """The page's title with its "Link to this view" button beside it (one row, room for the page's main view)."""
    title_column, button_column = st.columns([3, 1], vertical_alignment="center")
    title_column.title(title)
    link = ViewLink(page)
    link.button = button_column
    return link
