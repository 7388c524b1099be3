"""The Reproduce page's Table 2 (transfer learning): its run form and its results view.

pages/reproduce.py calls form() and show() when the experiment is table2; the numbers come from
arelu_core.reproduce.table2 (summarise_table2), the paper's only for the paper's own pair.
"""
from __future__ import annotations

from statistics import fmean

import plotly.graph_objects as go
import streamlit as st

from arelu_core.activations import activation_info, list_activations
from arelu_core.data import DATASETS, dataset_info
from arelu_core.errors import AReLULabError
from arelu_core.reproduce.claims import NO_DATA, SUPPORTED
from arelu_core.reproduce.table2 import PAPER_PAIR
from ui.common import activation_colour, cell_name
from ui.echarts import draw as draw_chart

TRANSFER_DATASETS = [key for key, info in DATASETS.items() if info.num_classes == 10]


def _name(key: str) -> str:
    try:
        return activation_info(key).name
    except AReLULabError:
        return key


def form(subsets: dict) -> dict | None:
    """The settings of a small live Table 2 (inside the caller's st.form); run_experiment's kwargs."""
    c1, c2 = st.columns(2)
    source = c1.selectbox("Pretrain on (source)", TRANSFER_DATASETS, index=TRANSFER_DATASETS.index("mnist"),
                          format_func=lambda k: dataset_info(k).name, key="t2_source")
    target = c2.selectbox("Transfer to (target)", TRANSFER_DATASETS, index=TRANSFER_DATASETS.index("fashion-mnist"),
                          format_func=lambda k: dataset_info(k).name, key="t2_target",
                          help="The paper's target is SVHN (downloaded on first use); Fashion-MNIST is on this "
                               "machine. Other pairs are not the paper's: no published number is shown beside them.")
    activations = c1.multiselect("Activations", list_activations(), default=["relu", "arelu"], format_func=_name,
                                 key="t2_activations")
    seeds = c2.number_input("Seeds per activation", 1, 5, 1, key="t2_seeds")
    pretrain = c1.number_input("Pretraining epochs (paper: 5)", 1, 10, 1, key="t2_pretrain")
    finetune = c2.number_input("Fine-tuning epochs (paper: 20, reported at 5, 10, 20)", 1, 20, 2, key="t2_finetune")
    subset = subsets[c1.selectbox("Training images (source and target)", list(subsets), key="t2_subset")]
    return {"source": source, "target": target, "activations": activations, "seeds": list(range(int(seeds))),
            "pretrain_epochs": int(pretrain), "epochs": int(finetune), "train_subset": subset}


def grid_figure(summary: dict) -> go.Figure | None:
    """Rows: the settings (the paper's layout); columns: activations; text 'ours' and '(paper)' when it has one."""
    cells = {(c["activation"], c["setting"]): c for c in summary["cells"]}
    acts = list(dict.fromkeys(c["activation"] for c in summary["cells"]))
    if not acts:
        return None
    rows = summary["settings"]
    z = [[(cells.get((a, s)) or {}).get("mean") for a in acts] for s in rows]
    text = [[_cell_text(cells.get((a, s))) for a in acts] for s in rows]
    shown = {c["activation"]: cell_name(c) for c in summary["cells"]}     # with PAU's form
    fig = go.Figure(go.Heatmap(z=z, x=[shown[a] for a in acts], y=rows, text=text, texttemplate="%{text}",
                               colorscale="Blues", zmin=0, zmax=100, colorbar={"title": "accuracy (%)"},
                               hovertemplate="%{x}, %{y}: %{z:.2f}%<extra></extra>"))
    fig.update_layout(height=110 + 48 * len(rows), margin={"t": 30, "b": 10}, yaxis={"autorange": "reversed"},
                      xaxis={"side": "top"})
    return fig


def _cell_text(cell: dict | None) -> str:
    if not cell or cell["mean"] is None:
        return "–"
    text = f"{cell['mean']:.1f} ± {cell['std']:.1f}"
    return text + (f"<br>({cell['paper']:.1f})" if cell.get("paper") is not None else "")


def finetune_curves(records: list[dict]) -> go.Figure | None:
    """Target test accuracy per fine-tuning epoch (mean over seeds), one line per activation; the
    from-scratch models dashed: what pretraining buys at each epoch."""
    by_act: dict[str, list[dict]] = {}
    for r in records:
        if r.get("status") == "finished" and r.get("accuracy"):
            by_act.setdefault(r["activation"], []).append(r)
    if not by_act:
        return None
    fig = go.Figure()
    for act, runs in by_act.items():
        color = activation_colour(act)
        for key, dash, label in (("accuracy", None, "fine-tuned"), ("scratch_accuracy", "dot", "from scratch")):
            curves = [r[key] for r in runs if r.get(key)]
            if not curves:
                continue
            length = min(map(len, curves))
            fig.add_trace(go.Scatter(x=list(range(1, length + 1)), y=[fmean(c[e] for c in curves) for e in range(length)],
                                     mode="lines+markers", name=f"{_name(act)} · {label}", legendgroup=act,
                                     line={"color": color, "dash": dash}))
    fig.update_layout(height=380, margin={"t": 30, "b": 10}, xaxis={"title": "epoch on the target", "dtick": 1},
                      yaxis={"title": "target test accuracy (%)"})
    return fig


def show(summary: dict, records: list[dict], key: str) -> None:
    source, target = dataset_info(summary["source"]).name, dataset_info(summary["target"]).name
    devices = ", ".join(summary.get("devices") or []) or "–"
    st.caption(f"{source} → {target} · {summary['runs']} finished runs · {summary['seconds']:.0f} s of training "
               f"on {devices}")
    if summary.get("paper_pair"):
        st.info(f"The paper's pair ({source} → {target}): its published numbers are in brackets.")
    else:
        paper = " → ".join(dataset_info(k).name for k in PAPER_PAIR)
        st.warning(f"{source} → {target} is not the paper's pair ({paper}): same protocol, no published "
                   f"number to compare with.")
    for claim in summary["claims"]:
        line = f"**{claim['claim']}** — {claim['detail']}"
        if claim.get("paper_verdict"):
            line += f" *(on the paper's own {paper_pair_name()} numbers: {claim['paper_verdict']})*"
        {SUPPORTED: st.success, NO_DATA: st.info}.get(claim["verdict"], st.warning)(f"{claim['verdict']}: {line}")
    fig = grid_figure(summary)
    if fig is not None:
        st.markdown(f"Test accuracy on {target} (%), mean ± std over seeds"
                    + (", the paper's in brackets." if summary.get("paper_pair") else "."))
        draw_chart(fig, key=f"{key}-t2-grid")
    fig = finetune_curves(records)
    if fig is not None:
        draw_chart(fig, key=f"{key}-t2-curves")
    table = [{"activation": _name(c["activation"]), "setting": c["setting"], "ours": c["mean"], "± std": c["std"],
              "n": c["n"], "paper": c.get("paper"), "ours − paper": c.get("diff")} for c in summary["cells"]]
    st.dataframe(table, hide_index=True, placeholder="", key=f"{key}-t2-table")   # empty cells blank, not "None"


def paper_pair_name() -> str:
    return " → ".join(dataset_info(k).name for k in PAPER_PAIR)
