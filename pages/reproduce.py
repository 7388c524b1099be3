"""Reproduce the paper: run a small version live (in a background thread) or load a results file;
our accuracy minus the paper's as a heat map, the Fig. 2 / Fig. 3 curves, and the claims as the data say."""
from __future__ import annotations

from pathlib import Path

import plotly.express as px
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from arelu_core.activations import activation_info, list_activations
from arelu_core.errors import AReLULabError
from arelu_core.reproduce import (EXPERIMENT_NAMES, NO_DATA, SUPPORTED, BackgroundRun, get_experiment,
                                  parse_records, summarise)
from arelu_core.reproduce.results import RESULTS_NAME, ResultsFile
from arelu_core.reproduce.summary import summarise_table3
from ui import table2_view

META_TITLES = {"table3": "Table 3: meta-learning (MAML) on MNIST"}   # not a batched grid: its own runner (meta.py)

RESULTS_ROOT = Path("results")
SHIPPED_ROOT = Path(__file__).resolve().parents[1] / "assets" / "results"   # our own full runs, with provenance
APP_OUT = RESULTS_ROOT / "app"
SUBSETS = {"5 000 digits (quick)": 5000, "20 000 digits": 20000, "all 60 000 (the paper's)": None}


def _name(key: str) -> str:
    try:
        return activation_info(key).name
    except AReLULabError:
        return key


def _setting(cell) -> str:
    return f"{'SGD' if cell['optimizer'] == 'sgd' else 'Adam'} {cell['lr']:.0e}"


# ---------------------------------------------------------------- figures

def heatmap(summary: dict) -> go.Figure | None:
    """Rows activations, columns settings; colour = ours - reference (paper, or our Table 1 for Table 4)."""
    cells = [c for c in summary["cells"] if c["mean"] is not None]
    if not cells:
        return None
    rows = list(dict.fromkeys(c["activation"] for c in cells))
    cols = list(dict.fromkeys(_setting(c) for c in cells))
    z = [[None] * len(cols) for _ in rows]
    text = [[""] * len(cols) for _ in rows]
    for c in cells:
        i, j = rows.index(c["activation"]), cols.index(_setting(c))
        ref = c.get("paper") if summary["experiment"] == "table1" else c.get("table1_mean")
        z[i][j] = c["diff"]
        text[i][j] = f"{c['mean']:.1f}" + (f"<br>({ref:.1f})" if ref is not None else "")
    fig = go.Figure(go.Heatmap(z=z, x=cols, y=[_name(r) for r in rows], text=text, texttemplate="%{text}",
                               colorscale="RdBu", zmid=0, colorbar={"title": "ours − ref"},
                               hovertemplate="%{y}, %{x}: %{z:+.2f} points<extra></extra>"))
    fig.update_layout(height=120 + 40 * len(rows), margin={"t": 30, "b": 10},
                      yaxis={"autorange": "reversed"}, xaxis={"side": "top"})
    return fig


def curves(summary: dict) -> go.Figure | None:
    """Accuracy per epoch: one line per init (Fig. 2) or per activation, one panel per lr (Fig. 3)."""
    cells = [c for c in summary["cells"] if c["curve"]]
    if not cells:
        return None
    panels = list(dict.fromkeys(_setting(c) for c in cells))
    fig = make_subplots(rows=1, cols=len(panels), subplot_titles=panels, shared_yaxes=True)
    labels = list(dict.fromkeys(
        ", ".join(f"{k}={v:g}" for k, v in c["params"].items()) if c["params"] else _name(c["activation"]) for c in cells))
    palette = px.colors.qualitative.Dark24           # one colour per activation, the same in every panel
    shown = set()
    for c in cells:
        label = (", ".join(f"{k}={v:g}" for k, v in c["params"].items()) if c["params"] else _name(c["activation"]))
        arelu = c["activation"] == "arelu" and not c["params"]
        fig.add_trace(go.Scatter(x=list(range(1, len(c["curve"]) + 1)), y=c["curve"], mode="lines+markers",
                                 name=label + (f" (n={c['n']})" if c["n"] > 1 else ""), legendgroup=label,
                                 showlegend=label not in shown,
                                 line={"color": palette[labels.index(label) % len(palette)], "width": 4 if arelu else 1.5},
                                 marker={"size": 6 if arelu else 4}),
                      row=1, col=panels.index(_setting(c)) + 1)
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
    fig = make_subplots(rows=1, cols=2, subplot_titles=["alpha", "beta"])
    for layer in range(len(run["params_trace"][0]["layers"])):
        for col, name in ((1, "alpha"), (2, "beta")):
            fig.add_trace(go.Scatter(x=steps, y=[t["layers"][layer][name] for t in run["params_trace"]],
                                     name=f"layer {layer + 1}", legendgroup=str(layer), showlegend=col == 1),
                          row=1, col=col)
    init = ", ".join(f"{k}={v:g}" for k, v in run["params"].items())
    fig.update_layout(height=330, margin={"t": 50, "b": 10}, title=f"learning trajectories from ({init}), seed {run['seed']}")
    fig.update_xaxes(title_text="step")
    return fig


def table3_figure(summary: dict) -> go.Figure | None:
    """Per (ways, shots) panel: per activation the official metric (bar), the held-out accuracy with its
    95% interval (bar + error bar) and the paper's number (marker)."""
    cells = [c for c in summary["cells"] if c["mean"] is not None]
    if not cells:
        return None
    panels = sorted({(c["ways"], c["shots"]) for c in cells})
    fig = make_subplots(rows=1, cols=len(panels), shared_yaxes=True,
                        subplot_titles=[f"{w}-way {k}-shot" for w, k in panels])
    for col, panel in enumerate(panels, start=1):
        here = [c for c in cells if (c["ways"], c["shots"]) == panel]
        names = [_name(c["activation"]) for c in here]
        first = col == 1
        fig.add_trace(go.Bar(x=names, y=[c["mean"] for c in here], name="ours: best train-task accuracy (official metric)",
                             marker_color="#4c78a8", legendgroup="mean", showlegend=first,
                             error_y={"type": "data", "array": [c["std"] for c in here]},
                             hovertemplate="%{x}: %{y:.2f}% (mean over seeds ± std)<extra></extra>"), row=1, col=col)
        fig.add_trace(go.Bar(x=names, y=[c["test_mean"] for c in here], name="ours: held-out tasks (95% interval)",
                             marker_color="#72b7b2", legendgroup="test", showlegend=first,
                             error_y={"type": "data", "array": [c["test_ci95"] or 0 for c in here]},
                             hovertemplate="%{x}: %{y:.2f}% on held-out tasks<extra></extra>"), row=1, col=col)
        fig.add_trace(go.Scatter(x=names, y=[c["paper"] for c in here], mode="markers", name="paper (published)",
                                 marker={"symbol": "diamond", "size": 11, "color": "#e45756"}, legendgroup="paper",
                                 showlegend=first, hovertemplate="%{x}: paper %{y:.2f}%<extra></extra>"), row=1, col=col)
    fig.update_yaxes(title_text="query accuracy (%)", col=1, range=[0, 100])
    fig.update_layout(height=430, barmode="group", margin={"t": 40, "b": 10}, legend={"orientation": "h", "y": -0.15})
    return fig


def show_table3(summary: dict, key: str):
    for claim in summary["claims"]:
        line = f"**{claim['claim']}** — {claim['detail']}"
        if claim.get("paper_verdict"):
            line += f" *(on the paper's own numbers: {claim['paper_verdict']})*"
        {SUPPORTED: st.success, NO_DATA: st.info}.get(claim["verdict"], st.warning)(f"{claim['verdict']}: {line}")
    st.markdown("**Official metric**: the best, over the 100 meta-iterations, of the mean query accuracy on that "
                "iteration's 32 meta-training tasks (what the official code prints: optimistic). **Held-out**: "
                "after meta-training, tasks built from MNIST's test digits, adapted the same way (5 SGD steps).")
    fig = table3_figure(summary)
    if fig is not None:
        st.plotly_chart(fig, key=f"{key}-table3")
    devices = sorted({d for d in summary.get("devices", [])})
    table = [{"activation": _name(c["activation"]), "(N, K)": f"({c['ways']}, {c['shots']})", "ours (official)": c["mean"],
              "± std": c["std"], "held-out": c["test_mean"], "95% interval ±": c["test_ci95"], "seeds": c["n"],
              "paper": c["paper"], "ours − paper": c["diff"], "s per run": round(c["seconds_per_run"] or 0)}
             for c in summary["cells"]]
    numbers = {column: st.column_config.NumberColumn(format="%.2f") for column in
               ("ours (official)", "± std", "held-out", "95% interval ±", "paper", "ours − paper")}
    st.dataframe(table, hide_index=True, column_config=numbers, key=f"{key}-t3table")
    if devices:
        st.caption("Trained on: " + ", ".join(devices))


# ---------------------------------------------------------------- showing a summary

def show(summary: dict, records: list[dict], key: str):
    """key: a prefix that keeps element ids apart (the live tab and the load tab may show the same file)."""
    experiment = summary["experiment"]
    if experiment == "table2":            # settings x activations, source -> target: its own view
        table2_view.show(summary, records, key)
        return
    st.caption(f"{summary['runs']} finished runs · {summary['seconds']:.0f} s of training")
    if experiment == "table3":
        return show_table3(summary, key)
    for claim in summary["claims"]:
        line = f"**{claim['claim']}** — {claim['detail']}"
        if claim.get("paper_verdict"):
            line += f" *(on the paper's own numbers: {claim['paper_verdict']})*"
        {SUPPORTED: st.success, NO_DATA: st.info}.get(claim["verdict"], st.warning)(f"{claim['verdict']}: {line}")
    if experiment in ("table1", "table4"):
        fig = heatmap(summary)
        if fig is not None:
            st.markdown("Our accuracy after one epoch; in brackets " +
                        ("the paper's" if experiment == "table1" else "our own Table 1 run") +
                        ". Colour: ours minus that (blue: above, red: below).")
            st.plotly_chart(fig, key=f"{key}-heatmap")
        elif experiment == "table4":
            st.info("No Table 1 run to compare with: run Table 1 for the same activations first.")
    else:
        fig = curves(summary)
        if fig is not None:
            st.plotly_chart(fig, key=f"{key}-curves")
        if experiment == "fig2":
            fig = trajectories(records)
            if fig is not None:
                st.plotly_chart(fig, key=f"{key}-trajectories")
    table = [{"activation": _name(c["activation"]), "init": ", ".join(f"{k}={v:g}" for k, v in c["params"].items()),
              "setting": _setting(c), "ours": c["mean"], "± std": c["std"], "n": c["n"], "diverged": c["diverged"],
              "paper": c.get("paper"), "ours − ref": c["diff"]} for c in summary["cells"]]
    st.dataframe(table, hide_index=True, key=f"{key}-table")


def load_records(data: bytes, name: str) -> tuple[str, list[dict]] | None:
    try:
        records = parse_records(data.splitlines(), name)
    except AReLULabError as exc:
        st.error(str(exc))
        return None
    if not records:
        st.error(f"{name} holds no finished runs")
        return None
    return records[0]["experiment"], records


def results_label(path: Path) -> str:
    if path.is_relative_to(SHIPPED_ROOT):
        if path.parent.name == "fig4":   # not the full grid: see assets/results/README.md
            return "shipped: fig4 (our small run: ResNet-18/SE-ResNet-18 on Fashion-MNIST, H100)"
        return f"shipped: {path.parent.name} (our full run)"
    return str(path)


def baseline_for(experiment: str, folder: Path | None) -> list[dict] | None:
    if experiment != "table4":
        return None
    for path in ([folder.parent / "table1" / RESULTS_NAME] if folder else []) + [RESULTS_ROOT / "table1" / RESULTS_NAME]:
        if path.exists():
            try:
                return ResultsFile(path, "table1").read()
            except AReLULabError as exc:
                st.warning(f"Table 1 baseline not used: {exc}")
    return None


# ---------------------------------------------------------------- page

st.title("Reproduce the paper")
st.markdown("The paper's MNIST experiments, several models trained per computation. The full grids run from the "
            "command line (`arelu reproduce table1`); here you can run a small version live or load any results file.")

experiment = st.selectbox("Experiment", EXPERIMENT_NAMES + tuple(META_TITLES),
                          format_func=lambda n: META_TITLES.get(n) or get_experiment(n).title)
spec = None if experiment in META_TITLES else get_experiment(experiment)
if spec is not None and spec.note:
    st.caption(spec.note)
tab_run, tab_load = st.tabs(["Run a small version", "Load results"])

with tab_run:
    if spec is None:      # Table 3 (MAML): its own runner, from the command line
        st.info("Table 3 meta-trains MNIST-Conv with MAML (second-order, 100 iterations of 32 tasks): about 16 s per "
                "run on a GPU, a minute or more of CPU per 5-way 1-shot run. Run it from the command line, e.g. "
                "`arelu reproduce table3 --activations relu arelu --seeds 0 --ways 5 --shots 1`, then load "
                "`results/table3/runs.jsonl` in the next tab.")
    else:
        run: BackgroundRun | None = st.session_state.get("reproduce_run")
        busy = run is not None and run.running
        with st.form("reproduce_form"):
            if experiment == "table2":
                table2_kwargs = table2_view.form(SUBSETS)
            c1, c2 = st.columns(2)
            if experiment == "table2":
                activations, optimizers, lrs = table2_kwargs["activations"], ["sgd"], [1e-5]
            elif experiment == "fig2":
                activations = ["arelu"]
                c1.write("AReLU from the paper's 9 initialisations, trained together.")
            else:
                choices = [a for a in list_activations() if experiment != "table4" or a != "arelu"]
                default = [a for a in ("relu", "prelu", "arelu") if a in choices]
                activations = c1.multiselect("Activations", choices, default=default, format_func=_name)
            if experiment != "table2":
                optimizers = c2.multiselect("Optimizers", list(spec.optimizers), default=["sgd"],
                                            format_func=lambda o: "SGD (momentum 0.9)" if o == "sgd" else "Adam")
                small = [lr for lr in spec.lrs if lr in (1e-3, 1e-4)] or list(spec.lrs[:1])
                lrs = c2.multiselect("Learning rates", list(spec.lrs), default=small if experiment != "fig3" else [1e-4],
                                     format_func=lambda lr: f"{lr:.0e}")
                seeds = c1.number_input("Seeds per cell", 1, 5, 1)
                epochs = c2.number_input("Epochs", 1, 20, 1 if spec.epochs == 1 else 2, disabled=spec.epochs == 1)
                subset = SUBSETS[c1.selectbox("Training digits", list(SUBSETS))]
            start = st.form_submit_button("Start", type="primary", disabled=busy)
        if start:
            if not activations or not optimizers or not lrs:
                st.error("Pick at least one activation, optimizer and learning rate.")
            elif experiment == "table2":
                st.session_state["reproduce_run"] = BackgroundRun("table2", out=APP_OUT / "table2", device="auto",
                                                                  **table2_kwargs).start()
                st.rerun()
            else:
                st.session_state["reproduce_run"] = BackgroundRun(
                    experiment, activations=activations, optimizers=optimizers, lrs=sorted(lrs, reverse=True),
                    seeds=list(range(int(seeds))), epochs=int(epochs), train_subset=subset,
                    out=APP_OUT / experiment, device="auto").start()
                st.rerun()

        @st.fragment(run_every=1.0 if busy else None)
        def live():
            current: BackgroundRun | None = st.session_state.get("reproduce_run")
            if current is None:
                st.caption(f"Results of live runs go to {APP_OUT}/<experiment>/ and are reused when you start again.")
                return
            if current.running:
                st.progress(current.fraction, text=f"{current.experiment}: group {current.group + 1} of "
                                                   f"{max(current.groups, 1)}, step {current.step}/{current.total}")
                if st.button("Stop"):
                    current.stop()
                done = [e["record"] for e in current.events]
                if done:
                    st.write(f"{len(done)} runs finished so far: " + ", ".join(
                        f"{_name(r['activation'])} {r['optimizer']} {r['lr']:g} → {r['accuracy'][-1]:.1f}%"
                        for r in done[-6:] if r["accuracy"]))
                return
            if busy:        # finished since the last full run: redraw the page without the timer
                st.rerun()
            if current.error:
                st.error(current.error)
            elif current.result:
                result = current.result
                st.write(f"{get_experiment(current.experiment).title}: {result['finished']} of {result['requested']} runs "
                         f"({result['skipped']} reused from earlier), {result['seconds_this_call']:.0f} s.")
                try:   # the per-run records, for Fig. 2's trajectories
                    records = ResultsFile(result["results_file"], current.experiment).read()
                except AReLULabError as exc:
                    st.error(str(exc))
                    return
                same = [r for r in records if r.get("train_subset") == current.kwargs["train_subset"]
                        and r.get("epochs") == current.kwargs["epochs"]
                        and all(r.get(k) == current.kwargs[k] for k in ("source", "target") if k in current.kwargs)]
                show(result, same, "live")

        live()


with tab_load:
    found = sorted(RESULTS_ROOT.glob("*/" + RESULTS_NAME)) + sorted(RESULTS_ROOT.glob("*/*/" + RESULTS_NAME))
    found += sorted(SHIPPED_ROOT.glob("*/" + RESULTS_NAME))   # after the user's own: theirs come first
    source = st.radio("Source", ["Upload a runs.jsonl", "A results folder on this machine"], horizontal=True,
                      index=1 if found else 0)
    loaded, folder = None, None
    if source.startswith("Upload"):
        upload = st.file_uploader("runs.jsonl from `arelu reproduce`", type=["jsonl", "json", "txt"])
        if upload is not None:
            loaded = load_records(upload.getvalue(), upload.name)
    elif not found:
        st.info(f"No results under {RESULTS_ROOT}/ yet: run `arelu reproduce table1` (or a small version here).")
    else:
        # The chosen experiment's own results first (the shipped ones when there are no others).
        same = [i for i, p in enumerate(found) if p.parent.name == experiment]
        path = st.selectbox("Results file", found, index=same[0] if same else 0, format_func=results_label)
        if path.is_relative_to(SHIPPED_ROOT):
            st.caption("Shipped with AReLU Lab: our own full runs on the real MNIST, made with `arelu reproduce` "
                       "(commands, machine and times in `assets/results/README.md`).")
        try:
            loaded, folder = load_records(path.read_bytes(), str(path)), path.parent
        except OSError as exc:
            st.error(f"cannot read {path}: {exc.strerror or exc}")
    if loaded:
        name, records = loaded
        if name == "fig4":       # deep networks (issue 12): their own view
            from ui.fig4_view import show_fig4
            show_fig4(records)
        elif name not in EXPERIMENT_NAMES and name not in META_TITLES:
            st.error(f"these runs belong to an unknown experiment {name!r}")
        else:
            if name != experiment:
                st.caption(f"This file holds {META_TITLES.get(name) or get_experiment(name).title} runs.")
            show(summarise(name, records, baseline_for(name, folder)), records, "load")
