"""The Reproduce page's parts, one table entry per experiment so a new experiment adds its own.

    VIEWS[experiment](summary, records, key)   draws an experiment's results (after the claims, before the cells table)
    FORMS[experiment](spec) -> kwargs | None   the "Run a small version" form; run_experiment's keyword arguments

Register with the decorators: `@view("table2")` / `@run_form("table2")`. An experiment without an entry gets
the cells table only, and the default grid form (activations x optimizers x learning rates x seeds).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

import pandas as pd
import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from arelu_core.activations import list_activations
from arelu_core.activations.registry import unlabelled_params
from arelu_core.errors import AReLULabError
from arelu_core.reproduce import NO_DATA, SUPPORTED, parse_records
from arelu_core.reproduce.results import RESULTS_NAME, ResultsFile
from ui import ablation_view, table2_view
from ui.common import activation_colour, cell_name
from ui.common import activation_name as name
from ui.echarts import draw as draw_chart

RESULTS_ROOT = Path("results")
SHIPPED_ROOT = Path(__file__).resolve().parents[1] / "assets" / "results"   # our own full runs, with provenance
APP_OUT = RESULTS_ROOT / "app"
SUBSETS = {"5 000 digits (quick)": 5000, "20 000 digits": 20000, "all 60 000 (the paper's)": None}

VIEWS: dict[str, Callable[[dict, list[dict], str], None]] = {}
# Experiments with their own summary and view, outside EXPERIMENT_NAMES' grids (run from the CLI only):
# name -> (title, view(records, key)).
def _fig4(records: list[dict], key: str) -> None:
    from ui.fig4_view import show_fig4     # imports the deep networks (timm) only when shown
    show_fig4(records, key)


def _table3(records: list[dict], key: str) -> None:
    from ui.table3_view import show_records
    show_records(records, key)


RECORD_VIEWS: dict[str, tuple[str, Callable[[list[dict], str], None]]] = {
    "fig4": ("Figure 4: deep networks (ResNet-18, SE-ResNet-18, VGG-16, DenseNet-121, MobileNetV2)", _fig4),
    "table3": ("Table 3: meta-learning (MAML) on MNIST", _table3),
}
WHOLE = set()      # experiments whose view draws everything itself (claims and table included)
FORMS: dict[str, Callable] = {}


def view(*experiments: str, whole: bool = False):
    def register(function):
        VIEWS.update(dict.fromkeys(experiments, function))
        WHOLE.update(experiments if whole else ())
        return function
    return register


def run_form(*experiments: str):
    def register(function):
        FORMS.update(dict.fromkeys(experiments, function))
        return function
    return register


def setting(cell) -> str:
    return f"{'SGD' if cell['optimizer'] == 'sgd' else 'Adam'} {cell['lr']:.0e}"


def init_label(params: dict) -> str:
    return ", ".join(f"{k}={v:g}" if isinstance(v, (int, float)) else f"{k}={v}" for k, v in params.items())


def curve_label(cell: dict) -> str:
    """Fig. 2's initialisation, else the activation (with its variant: PAU's form)."""
    inits = unlabelled_params(cell["activation"], cell["params"])
    return init_label(inits) if inits else cell_name(cell)


# ---------------------------------------------------------------- figures

def heatmap(summary: dict) -> go.Figure | None:
    """Rows activations, columns settings; colour = our accuracy (the comparison the eye should make: who
    learns most in each setting), the best of each column starred. The reference (the paper's number, or our
    Table 1 for Table 4) and the gap stay numbers: in brackets, on hover and in the cells table."""
    cells = [c for c in summary["cells"] if c["mean"] is not None]
    if not cells:
        return None
    rows = list(dict.fromkeys(cell_name(c) for c in cells))        # PAU's two forms are two rows
    cols = list(dict.fromkeys(setting(c) for c in cells))
    z = [[None] * len(cols) for _ in rows]
    text = [[""] * len(cols) for _ in rows]
    gap = [[""] * len(cols) for _ in rows]
    best = {col: max(c["mean"] for c in cells if setting(c) == col) for col in cols}
    for c in cells:
        i, j = rows.index(cell_name(c)), cols.index(setting(c))
        ref = c.get("paper") if summary["experiment"] == "table1" else c.get("table1_mean")
        z[i][j] = c["mean"]
        star = "★ " if c["mean"] == best[cols[j]] else ""
        text[i][j] = f"{star}{c['mean']:.1f}" + (f"<br>({ref:.1f})" if ref is not None else "")
        gap[i][j] = f"{c['diff']:+.2f} points vs the reference" if c.get("diff") is not None else "no reference"
    fig = go.Figure(go.Heatmap(z=z, x=cols, y=rows, text=text, texttemplate="%{text}",
                               customdata=gap, colorscale="Blues", zmin=0, zmax=100,
                               colorbar={"title": {"text": "our accuracy (%)"}},
                               hovertemplate="%{y}, %{x}: %{z:.2f}% (%{customdata})<extra></extra>"))
    arelu_row = rows.index(name("arelu")) if name("arelu") in rows else None
    if arelu_row is not None:        # AReLU's row outlined: the row the paper is about
        fig.add_shape(type="rect", x0=-0.5, x1=len(cols) - 0.5, y0=arelu_row - 0.5, y1=arelu_row + 0.5,
                      line={"color": activation_colour("arelu"), "width": 3})
    fig.update_layout(height=120 + 40 * len(rows), margin={"t": 30, "b": 10},
                      yaxis={"autorange": "reversed"}, xaxis={"side": "top"})
    return fig


def curves(summary: dict) -> go.Figure | None:
    """Accuracy per epoch: one line per init (Fig. 2) or per activation, one panel per lr (Fig. 3)."""
    cells = [c for c in summary["cells"] if c["curve"]]
    if not cells:
        return None
    panels = list(dict.fromkeys(setting(c) for c in cells))
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=panels, shared_yaxes=True)
    labels = list(dict.fromkeys(map(curve_label, cells)))
    palette = px.colors.qualitative.Dark24           # one colour per activation, the same in every panel
    shown = set()
    for c in cells:
        label = curve_label(c)
        arelu = c["activation"] == "arelu" and not c["params"]
        fig.add_trace(go.Scatter(x=list(range(1, len(c["curve"]) + 1)), y=c["curve"], mode="lines+markers",
                                 name=label + (f" (n={c['n']})" if c["n"] > 1 else ""), legendgroup=label,
                                 showlegend=label not in shown,
                                 line={"color": palette[labels.index(label) % len(palette)] if c["params"]
                                       else activation_colour(c["activation"]), "width": 4 if arelu else 1.5},
                                 marker={"size": 6 if arelu else 4}),
                      row=1, col=panels.index(setting(c)) + 1)
        shown.add(label)
    longest = max(len(c["curve"]) for c in cells)
    fig.update_xaxes(title_text="epoch", dtick=1 if longest <= 10 else 2)
    fig.update_yaxes(title_text="test accuracy (%)", col=1)
    fig.update_layout(height=max(420, 60 + 22 * len(labels)), margin={"t": 40, "b": 10})
    return fig


def trajectories(records: list[dict]) -> go.Figure | None:
    """Fig. 2b: alpha and beta of each layer over the steps, from (0.25, 1.0) when that run exists."""
    runs = [r for r in records if r.get("params_trace")]
    if not runs:
        return None
    run = next((r for r in runs if r["params"] == {"alpha": 0.25, "beta": 1.0}), runs[0])
    steps = [t["step"] for t in run["params_trace"]]
    fig = make_subplots(rows=1, cols=2, subplot_titles=["α", "β"], horizontal_spacing=0.1)
    for layer in range(len(run["params_trace"][0]["layers"])):
        for col, param in ((1, "alpha"), (2, "beta")):
            fig.add_trace(go.Scatter(x=steps, y=[t["layers"][layer][param] for t in run["params_trace"]],
                                     name=f"layer {layer + 1}", legendgroup=str(layer), showlegend=col == 1),
                          row=1, col=col)
    fig.update_layout(height=360, margin={"t": 90, "b": 10},
                      title=f"Learning trajectories from ({init_label(run['params'])}), seed {run['seed']}")
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text="α", col=1)
    fig.update_yaxes(title_text="β", col=2)
    return fig


# ---------------------------------------------------------------- the views

@view("table1", "table4")
def accuracy_grid(summary: dict, records: list[dict], key: str) -> None:
    fig = heatmap(summary)
    if fig is not None:
        st.markdown("Our accuracy after one epoch (darker: higher; ★ the best of each setting); in brackets " +
                    ("the paper's" if summary["experiment"] == "table1" else "our own Table 1 run") +
                    ". The gap to it is on hover and in the table below (ours − ref). AReLU's row is outlined.")
        draw_chart(fig, key=f"{key}-heatmap")
    elif summary["experiment"] == "table4":
        st.info("No Table 1 run to compare with: run Table 1 for the same activations first.")


view("table2", whole=True)(table2_view.show)     # settings x activations, source -> target
view("ablation", whole=True)(ablation_view.show)  # variants x settings, paired intervals per setting


@view("fig2", "fig3")
def accuracy_curves(summary: dict, records: list[dict], key: str) -> None:
    fig = curves(summary)
    if fig is not None:
        draw_chart(fig, key=f"{key}-curves")
    if summary["experiment"] == "fig2":
        fig = trajectories(records)
        if fig is not None:
            draw_chart(fig, key=f"{key}-trajectories")


def cells_table(summary: dict) -> pd.DataFrame:
    """One row per cell; a number that does not exist (no paper value, no run finished) is a blank cell."""
    return pd.DataFrame([{"activation": cell_name(c), "init": init_label(unlabelled_params(c["activation"], c["params"])),
                          "setting": setting(c), "ours": c["mean"], "± std": c["std"], "n": c["n"],
                          "diverged": c["diverged"], "paper": c.get("paper"), "ours − ref": c["diff"]}
                         for c in summary["cells"]])


def show(summary: dict, records: list[dict], key: str) -> None:
    """key: a prefix that keeps element ids apart (a live run and a loaded file may show the same file)."""
    if summary["experiment"] in WHOLE:
        VIEWS[summary["experiment"]](summary, records, key)
        return
    st.caption(f"{summary['runs']} finished runs · {summary['seconds']:.0f} s of training")
    for claim in summary["claims"]:
        line = f"**{claim['claim']}** — {claim['detail']}"
        if claim.get("paper_verdict"):
            line += f" *(on the paper's own numbers: {claim['paper_verdict']})*"
        {SUPPORTED: st.success, NO_DATA: st.info}.get(claim["verdict"], st.warning)(f"{claim['verdict']}: {line}")
    VIEWS.get(summary["experiment"], lambda *args: None)(summary, records, key)   # between claims and cells
    table = cells_table(summary)
    empty = [column for column in table if not table[column].replace("", None).notna().any()]
    table = table.drop(columns=empty)        # no initialisations, no published numbers: no column
    numbers = {column: st.column_config.NumberColumn(format="%.2f") for column in ("ours", "± std", "paper", "ours − ref")}
    st.dataframe(table, hide_index=True, column_config=numbers, placeholder="", key=f"{key}-table")


# ---------------------------------------------------------------- the run form

@run_form("fig2")
def fig2_form(spec):
    return grid_form(spec, fixed=["arelu"])


@run_form("table2")
def table2_form(spec):
    with st.form(f"reproduce_form_{spec.name}"):
        grid = table2_view.form(SUBSETS)
        start = st.form_submit_button("Start", type="primary")
    if not start:
        return None
    if not grid["activations"]:
        st.error("Pick at least one activation.")
        return None
    return grid


@run_form("ablation")
def ablation_form(spec):
    with st.form(f"reproduce_form_{spec.name}"):
        grid = ablation_view.form(spec, SUBSETS)
        start = st.form_submit_button("Start", type="primary")
    if not start:
        return None
    if not (grid["variants"] and grid["optimizers"] and grid["lrs"]):
        st.error("Pick at least one variant, optimizer and learning rate.")
        return None
    return grid


def grid_form(spec, fixed: list[str] | None = None) -> dict | None:
    """The default form: activations x optimizers x learning rates x seeds, few digits. None until Start."""
    with st.form(f"reproduce_form_{spec.name}"):
        c1, c2 = st.columns(2)
        if fixed:
            activations = fixed
            c1.write(f"{', '.join(map(name, fixed))} from the paper's {len(spec.inits)} initialisations, trained together.")
        else:
            choices = [a for a in list_activations() if spec.name != "table4" or a != "arelu"]
            default = [a for a in ("relu", "prelu", "arelu") if a in choices]
            activations = c1.multiselect("Activations", choices, default=default, format_func=name)
        optimizers = c2.multiselect("Optimizers", list(spec.optimizers), default=["sgd"],
                                    format_func=lambda o: "SGD (momentum 0.9)" if o == "sgd" else "Adam")
        small = [lr for lr in spec.lrs if lr in (1e-3, 1e-4)] or list(spec.lrs[:1])
        lrs = c2.multiselect("Learning rates", list(spec.lrs), default=small if spec.name != "fig3" else [1e-4],
                             format_func=lambda lr: f"{lr:.0e}")
        seeds = c1.number_input("Seeds per cell", 1, 5, 1)
        epochs = c2.number_input("Epochs", 1, 20, 1 if spec.epochs == 1 else 2, disabled=spec.epochs == 1)
        subset = SUBSETS[c1.selectbox("Training digits", list(SUBSETS))]
        start = st.form_submit_button("Start", type="primary")
    if not start:
        return None
    if not activations or not optimizers or not lrs:
        st.error("Pick at least one activation, optimizer and learning rate.")
        return None
    return dict(activations=activations, optimizers=optimizers, lrs=sorted(lrs, reverse=True),
                seeds=list(range(int(seeds))), epochs=int(epochs), train_subset=subset)


# ---------------------------------------------------------------- results files

def file_experiment(path: Path) -> str | None:
    """The experiment a results file holds, from its first line (None when that line does not say)."""
    try:
        with open(path, "rb") as f:
            first = next((line for line in f if line.strip()), b"")
        found = json.loads(first).get("experiment")
    except (OSError, ValueError, AttributeError):
        return None
    return found if isinstance(found, str) else None


def results_files(experiment: str) -> list[Path]:
    """The results files of one experiment: the user's own full runs (results/), then our shipped ones,
    then the small runs of this page (results/app/). A file whose first line does not say which experiment
    it holds counts for the one its folder is named after (a damaged file is then shown with its error)."""
    own = sorted(RESULTS_ROOT.glob("*/" + RESULTS_NAME)) + sorted(RESULTS_ROOT.glob("*/*/" + RESULTS_NAME))
    app = [path for path in own if path.is_relative_to(APP_OUT)]
    found = [path for path in own if path not in app] + sorted(SHIPPED_ROOT.glob("*/" + RESULTS_NAME)) + app
    return [path for path in found if (file_experiment(path) or path.parent.name) == experiment]


# Shipped folders that are not one full grid of `arelu reproduce` defaults (assets/results/README.md).
SHIPPED_SMALL = {
    "fig4": "fig4 (our small run: ResNet-18/SE-ResNet-18 on Fashion-MNIST, H100)",
    "fig4-cpu": "fig4 (our small CPU run: 5 networks x 6 activations x 3 seeds, width 0.25, 2 048 images, 3 epochs)",
    "table2": "table2 (our full-data run: ReLU only, H100)",
    "table2-subset": "table2 (ReLU, PReLU, PAU, AReLU on 10 000 training images, CPU)",
}
# Shipped grids: folder -> (what it is, the trainings a full one holds: Table 3 6 activations x 2 settings x 5
# seeds, Fig. 3 19 activations x 2 rates + 5 x 2 x 2 extra seeds); the label counts the file's runs.
SHIPPED_GRIDS = {"table3": ("table3, inner lr 0.005 as the official script ran", 60),
                 "table3-inner-lr-0.01": ("table3, inner lr 0.01 (the variant)", 60),
                 "fig3": ("fig3", 58),
                 "ablation": ("ablation", 360)}          # 9 variants x 8 settings x 5 seeds


def results_label(path: Path) -> str:
    if path.is_relative_to(SHIPPED_ROOT):
        name = path.parent.name
        if name in SHIPPED_SMALL:
            return "shipped: " + SHIPPED_SMALL[name]
        if name in SHIPPED_GRIDS:
            title, full = SHIPPED_GRIDS[name]
            with open(path, "rb") as lines:
                runs = sum(1 for line in lines if line.strip())
            if runs < full:
                return f"shipped: {title} (our partial run: {runs} of the {full} trainings)"
            return f"shipped: {title} (our full run: {runs} trainings)"
        return f"shipped: {name} (our full run)"
    if path.is_relative_to(APP_OUT):
        return f"{path} (small runs from this page)"
    return str(path)


def load_records(data: bytes, source: str) -> tuple[str, list[dict]] | None:
    try:
        records = parse_records(data.splitlines(), source)
    except AReLULabError as exc:
        st.error(str(exc))
        return None
    if not records:
        st.error(f"{source} holds no finished runs")
        return None
    return records[0]["experiment"], records


def baseline_for(experiment: str, folder: Path | None) -> list[dict] | None:
    if experiment != "table4":
        return None
    candidates = ([folder.parent / "table1" / RESULTS_NAME] if folder else []) + [RESULTS_ROOT / "table1" / RESULTS_NAME]
    for path in candidates:
        if path.exists():
            try:
                return ResultsFile(path, "table1").read()
            except AReLULabError as exc:
                st.warning(f"Table 1 baseline not used: {exc}")
    return None
