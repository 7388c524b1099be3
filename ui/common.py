"""Small UI helpers shared by the pages: job manager, session owner, checkpoints, errors."""
from __future__ import annotations

import contextlib
import uuid
from pathlib import Path

import streamlit as st

from arelu_core.activations import activation_info
from arelu_core.errors import AReLULabError, one_line
from arelu_core.runs import CheckpointEntry, find_checkpoints

# One palette for every chart. An activation's colour comes from activation_colour(key), the one mapping every
# page uses, so AReLU is the same red and ReLU the same teal on Explore, Gradient flow, Train live, Feature
# maps and Reproduce. PALETTE's order is that mapping's order: AReLU first (the theme's primary colour), ReLU.
PALETTE = ["#d1495b", "#00798c", "#edae49", "#6a4c93", "#66a182", "#30638e", "#ef8a62", "#8d96a3",
           "#1b9e77", "#b8860b", "#7570b3", "#e7298a", "#4d7c0f", "#a6761d", "#17becf", "#9467bd",
           "#8c564b", "#bcbd22", "#2f4b7c", "#ff7c43", "#665191", "#003f5c", "#a05195", "#f95d6a"]
FIXED_COLOURS = {"arelu": PALETTE[0], "relu": PALETTE[1]}
UNKNOWN_COLOUR = "#444444"
OWNER_KEY = "arelu_owner_id"


def activation_name(key: str) -> str:
    """The display name of a registry key ("arelu" -> "AReLU"); an unknown key (a results file of another
    version) as it is."""
    try:
        return activation_info(key).name
    except AReLULabError:
        return key


def cell_name(cell: dict) -> str:
    """A summary cell's activation as shown: with its variant where it has one ("PAU (form=official)")."""
    return activation_name(cell["activation"]) + (f" ({cell['variant']})" if cell.get("variant") else "")


_OWNER_SESSIONS: dict[str, str] = {}  # owner id -> Streamlit session id, for the job manager's liveness check


def _owner_session_alive(owner: str) -> bool:
    """Is the browser session that owns these jobs still connected? (No server, as under AppTest: yes.)"""
    from streamlit import runtime
    if not runtime.exists():
        return True
    session_id = _OWNER_SESSIONS.get(owner)
    return session_id is not None and runtime.get_instance().is_active_session(session_id)


@st.cache_resource(show_spinner=False)
def get_job_manager():
    """The process-wide JobManager: every session shares its slots, each sees only its own jobs.
    A closed tab's trainings are cancelled once its session has been gone for $ARELU_SESSION_TIMEOUT s."""
    from arelu_core.jobs import JobManager, owner_timeout_from_env
    return JobManager(owner_timeout=owner_timeout_from_env(), is_owner_alive=_owner_session_alive, isolation="process")


def session_owner_id() -> str:
    """A random id for this browser session, the owner of its training jobs."""
    if OWNER_KEY not in st.session_state:
        st.session_state[OWNER_KEY] = uuid.uuid4().hex
    owner = st.session_state[OWNER_KEY]
    from streamlit.runtime.scriptrunner import get_script_run_ctx
    ctx = get_script_run_ctx()
    if ctx is not None:
        _OWNER_SESSIONS[owner] = ctx.session_id
    return owner


@st.cache_resource(show_spinner=False, max_entries=16)
def _load_checkpoint(path: str, mtime: float):
    from arelu_core.checkpoint import load_checkpoint
    return load_checkpoint(path)


def load_checkpoint_cached(path: str | Path):
    """(model, metadata), shared across sessions; a file overwritten on disk is read again.
    Treat the model as read-only: copy it before changing it."""
    path = Path(path)
    try:
        mtime = path.stat().st_mtime
    except OSError:
        mtime = 0.0  # load_checkpoint then raises a CheckpointError naming the file
    return _load_checkpoint(str(path), mtime)


def activation_colour(key: str | None) -> str:
    """The one colour of an activation on every page: AReLU red, ReLU teal, every other registered activation
    its own colour in the registry's order. '<base>+elsa' takes its base's colour (pages dash it); an unknown
    key a grey."""
    from arelu_core.activations import list_activations, resolve_name
    if not key:
        return UNKNOWN_COLOUR
    with contextlib.suppress(AReLULabError):
        key = resolve_name(key)[0]
    if key in FIXED_COLOURS:
        return FIXED_COLOURS[key]
    others = [name for name in list_activations() if name not in FIXED_COLOURS]
    if key not in others:
        return UNKNOWN_COLOUR
    rest = PALETTE[len(FIXED_COLOURS):]
    return rest[others.index(key) % len(rest)]


def list_checkpoints(include_deep: bool = False) -> list[CheckpointEntry]:
    """Shipped checkpoints (models/, manifest order) then the ones saved from the app (runs/), newest first."""
    return find_checkpoints(include_deep=include_deep)


def checkpoint_family(entry: CheckpointEntry) -> tuple[str, str] | None:
    """(network, dataset) of a checkpoint: the manifest says, else its metadata (read once, cached). Two
    checkpoints of one family can be compared on one image. None: the file cannot be read (choosing it says why)."""
    if entry.network and entry.dataset:
        return entry.network, entry.dataset
    try:
        metadata = load_checkpoint_cached(entry.path)[1]
    except Exception:
        return None
    return (entry.network or metadata.get("network") or "mnist-conv"), (entry.dataset or metadata.get("dataset") or "mnist")


def checkpoint_label(entry: CheckpointEntry) -> str:
    """'AReLU · shipped · 97.80%', 'ResNet-18 AReLU (...) · shipped · 81.38%' or '<file name> · saved run'."""
    parts = [entry.title, "shipped" if entry.source == "shipped" else "saved run"]
    if entry.source == "shipped" and entry.activation and entry.network in (None, "mnist-conv"):
        with contextlib.suppress(AReLULabError):
            parts[0] = activation_info(entry.activation).name
    if entry.test_accuracy is not None:
        parts.append(f"{entry.test_accuracy:.2f}%")
    return "  ·  ".join(parts)


def learnable_first_index(entries: list[CheckpointEntry]) -> int:
    """The first checkpoint whose activation has a learned curve to show (AReLU's, say), else 0."""
    for index, entry in enumerate(entries):
        with contextlib.suppress(AReLULabError):
            info = activation_info(entry.activation) if entry.activation else None
            if info is not None and info.learnable and info.elementwise:
                return index
    return 0


@contextlib.contextmanager
def user_errors(what: str):
    """Show a failure as one st.error line (never a traceback): the library's own message when it has one."""
    try:
        yield
    except AReLULabError as exc:
        st.error(f"{what}: {exc}")
    except Exception as exc:  # a bug: still one line for the user, the type helps a bug report
        st.error(f"{what} failed unexpectedly ({type(exc).__name__}: {one_line(exc)})")


def small_table(frame, number_format: str = "{:.4g}", container=None) -> None:
    """A few rows as a Markdown table: drawn with the page's text, so a fresh browser loads no data-grid
    code for it (st.dataframe and st.table each cost a bundle of their own on first use)."""
    def cell(value) -> str:
        if isinstance(value, float):
            return number_format.format(value)
        return str(value).replace("|", "\\|")
    header = "| " + " | ".join(map(cell, frame.columns)) + " |"
    rule = "|" + "|".join("---:" if frame[c].dtype.kind in "iuf" else ":---" for c in frame.columns) + "|"
    rows = ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    (container or st).markdown("\n".join([header, rule, *rows]))
