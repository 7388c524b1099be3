"""Train live's state, not its rendering: the settings (their keys are the URL's parameter names), starting,
stopping and finding a race (its id in the URL: ?race=<id>), the link to the view, and the note for a link
whose settings cannot be used here.

A race belongs to the session that started it (only that one may stop it); any session holding its id (a
reload, a shared link) finds it through JobManager.race. The id is 128 random bits, so holding it is what
allows seeing the race.
"""
from __future__ import annotations

import math
import time
from urllib.parse import urlencode

import streamlit as st

from arelu_core import activation_info, data
from arelu_core.errors import AReLULabError
from arelu_core.jobs import valid_race_id
from arelu_core.jobs.manager import KEEP_RACE_SECONDS, KEEP_RACES
from arelu_core.activations.arelu import LEARN_LABELS
from arelu_core.races import RaceSettings, paper_race

JOB_IDS = "train_job_ids"          # the shown race's job ids (also a single job's, as tests submit them)
RACE_KEY = "train_race_id"         # the shown race's id, kept for returning from another page
RACE_PARAM = "race"                # ?race=<id>
REFRESH_TIMES = "train_refresh_times"
FULL_RUN = "train_full_run"
SAVED = "train_saved_paths"
START_ERROR = "train_start_error"
LEARNING_RATES = [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1]
SUBSETS = [None, 512, 2_000, 10_000, 30_000]
BATCH_SIZES = [32, 64, 128, 256, 512]
OPTIMIZERS = {"sgd": "SGD, momentum 0.9", "adam": "Adam"}
REFRESH_CHOICES = [0.5, 1.0, 2.0, 5.0]  # seconds between redraws of the live view's job cards
# Each redraw (a fragment run) costs the browser a fixed ~50 ms of CPU whatever it redraws: at 0.5 s the cards
# alone took a tenth of a core from the trainings on 2 cores (scripts/ui_cost.py), hence 2 s by default.
REFRESH_DEFAULT = 2.0
CHART_SECONDS, PARAMETER_SECONDS = 2.0, 5.0   # the charts are redrawn at most this often (chart_intervals)

# setting of RaceSettings -> widget key (= URL parameter), and each widget's default
SETTING_KEYS = {"optimizer": "train_optimizer", "lr": "train_lr", "batch_size": "train_batch_size",
                "epochs": "train_epochs", "alpha": "train_alpha", "beta": "train_beta", "learn": "train_learn", "seed": "train_seed",
                "device": "train_device", "train_subset": "train_subset"}
DEFAULTS = {"train_dataset": "mnist", "train_activations": ["relu", "arelu"], "train_optimizer": "sgd",
            "train_lr": 1e-3, "train_batch_size": 128, "train_epochs": 1,
            "train_alpha": activation_info("arelu").param("alpha").default,
            "train_beta": activation_info("arelu").param("beta").default, "train_learn": "both", "train_seed": 0, "train_device": "auto",
            "train_subset": None}


def dataset_label(key: str) -> str:
    return data.dataset_info(key).name


def subset_label(n: int | None, dataset: str | None = None) -> str:
    size = data.dataset_info(dataset or st.session_state.get("train_dataset") or "mnist").train_size
    return (f"all {size:,}" if n is None else f"first {n:,}").replace(",", " ")


# How each bound widget writes its value into the URL (Streamlit writes the option's label)
URL_FORMATS = {"train_dataset": dataset_label, "train_activations": lambda key: activation_info(key).name,
               "train_optimizer": OPTIMIZERS.get, "train_learn": LEARN_LABELS.get, "train_lr": lambda value: f"{value:g}", "train_subset": subset_label}


def url_values(key: str, value) -> list[str]:
    fmt = URL_FORMATS.get(key, str)
    return [str(fmt(v)) for v in (value if isinstance(value, list) else [value])]


# -- the race ---------------------------------------------------------------------------------------
def race_settings() -> RaceSettings:
    state = st.session_state
    settings = {setting: state.get(key, DEFAULTS[key]) for setting, key in SETTING_KEYS.items()}
    return RaceSettings(activations=tuple(state.get("train_activations") or ()),
                        dataset=state.get("train_dataset") or DEFAULTS["train_dataset"],
                        **{**settings, "seed": int(settings["seed"])})


def start_race(manager, owner: str, jobs: list) -> None:
    """on_click of Start: runs before the script, so the page that follows already shows the race."""
    settings = race_settings()
    if any(job.active for job in jobs):
        st.session_state[START_ERROR] = "A race is still running: stop it first."
        return
    if not settings.activations:
        st.session_state[START_ERROR] = "Pick at least one activation."
        return
    try:  # all or nothing: submit_race queues none when one config is bad
        race = manager.submit_race(owner, settings.configs(), settings.labels())
    except Exception as exc:  # AReLULabError says what to fix; anything else is still one line, no traceback
        reason = str(exc) if isinstance(exc, AReLULabError) else f"unexpected {type(exc).__name__}: {exc}"
        st.session_state[START_ERROR] = f"Could not start: {reason}"
        return
    show_race(race)
    st.session_state[REFRESH_TIMES] = []


def start_paper_race(manager, owner: str, jobs: list) -> None:
    """The paper's race in one click: Table 1's settings into the widgets (and so the URL), then Start."""
    paper = paper_race()
    st.session_state.update({"train_dataset": paper.dataset, "train_activations": list(paper.activations),
                             "train_optimizer": paper.optimizer, "train_lr": paper.lr,
                             "train_batch_size": paper.batch_size, "train_epochs": paper.epochs,
                             "train_subset": paper.train_subset})
    start_race(manager, owner, jobs)


def show_race(race) -> None:
    st.session_state[RACE_KEY] = race.id
    st.session_state[JOB_IDS] = [job.id for job in race.jobs]
    if st.query_params.get(RACE_PARAM) != race.id:   # a fragment's redraws find it there: no message each time
        st.query_params[RACE_PARAM] = race.id


def stop_race(manager, owner: str, jobs: list) -> None:
    for job in jobs:
        manager.stop(owner, job.id)


def clear_race() -> None:
    st.session_state[JOB_IDS] = []
    st.session_state.pop(RACE_KEY, None)
    st.query_params.pop(RACE_PARAM, None)


def shown_jobs(manager, owner: str) -> tuple[list, str | None]:
    """(the jobs this view shows, a note when the link's race cannot be found). The URL's race first (a
    reload, a shared link), else the one this session last showed, else the job ids it keeps."""
    race_id = st.query_params.get(RACE_PARAM) or st.session_state.get(RACE_KEY)
    if race_id:
        race = manager.race(race_id) if valid_race_id(race_id) else None
        if race is None:
            clear_race()
            return [], (f"The race of this link is not on this server (any more): a finished race is kept "
                        f"{KEEP_RACE_SECONDS / 3600:g} hours, the last {KEEP_RACES} at most, and a server "
                        "restart forgets them. Start one below.")
        show_race(race)
        return list(race.jobs), None
    job_ids = st.session_state.get(JOB_IDS)
    jobs = [manager.get(owner, str(job_id)) for job_id in (job_ids if isinstance(job_ids, list) else [])]
    return [job for job in jobs if job is not None], None


# -- the link and its bad parameters ------------------------------------------------------------------
def link_params(ignore: tuple = ()) -> list[tuple[str, str]]:
    """The view as URL parameters: the settings that differ from their defaults, then the race."""
    params = []
    for key, default in DEFAULTS.items():
        value = st.session_state.get(key, default)
        if key not in ignore and url_values(key, value) != url_values(key, default):
            params += [(key, text) for text in url_values(key, value)]
    race_id = st.session_state.get(RACE_KEY)
    return params + ([(RACE_PARAM, race_id)] if race_id else [])


def view_link() -> str:
    base = st.context.url or ""
    query = urlencode(link_params())
    return f"{base}?{query}" if query else base or "(this page's address)"


def link_settings() -> dict[str, list[str]]:
    """The bound settings this run's URL brought, read before the widgets (which drop what they reject)."""
    return {key: st.query_params.get_all(key) for key in DEFAULTS if key in st.query_params}


def rejected_settings(given: dict[str, list[str]]) -> list[str]:
    """'key=value' for each URL setting the widgets did not take (Streamlit drops an unknown option, a number
    out of range, garbage, and falls back to the default)."""
    rejected = []
    for key, raw in given.items():
        taken = url_values(key, st.session_state.get(key, DEFAULTS[key]))
        if not _same(raw, taken):
            rejected.append(f"{key}={','.join(raw)}")
    return rejected


def _same(raw: list[str], taken: list[str]) -> bool:
    if raw == taken:
        return True
    try:
        return len(raw) == len(taken) and all(math.isclose(float(a), float(b)) for a, b in zip(raw, taken))
    except ValueError:
        return False


# -- redraws ----------------------------------------------------------------------------------------
def record_refresh(setting: float) -> float | None:
    """Seconds between the last redraws of the live view, as measured here (None before two)."""
    if st.session_state.get(REFRESH_TIMES + "_setting") != setting:  # a new setting: measure afresh
        st.session_state[REFRESH_TIMES + "_setting"], st.session_state[REFRESH_TIMES] = setting, []
    times = st.session_state.setdefault(REFRESH_TIMES, [])
    times.append(time.monotonic())
    del times[:-21]
    return (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else None


def chart_intervals(every: float) -> tuple[float, float]:
    """Seconds between redraws of the loss/accuracy chart and of the parameters chart: a chart redraw costs the
    browser a full Plotly render on top of a fragment run's fixed cost. Redrawn with the cards every 0.5 s, the
    live view took 0.4 of a core in the browser, a third of two trainings' throughput (scripts/ui_cost.py)."""
    return max(every, CHART_SECONDS), max(every, PARAMETER_SECONDS)
