"""Fig. 5 on the Feature maps & Grad-CAM page: one image through two deep checkpoints (ReLU vs AReLU, say).

Grad-CAM at the first layer (the paper's view) and at each stage's output, each model's map and the
difference A - B. The computing is arelu_core.deep_cam's; this module only draws.
"""
from __future__ import annotations

import numpy as np
import plotly.colors
import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from arelu_core.deep_cam import compare_deep
from ui import cam_scores_view
from ui.echarts import draw as draw_chart

# Inferno with its first stop as rgb(): Streamlit rewrites the strings "#000001".."#00000N" in figures.
CAM_SCALE = [[i / (len(plotly.colors.sequential.Inferno) - 1), "rgb(0, 0, 4)" if i == 0 else color]
             for i, color in enumerate(plotly.colors.sequential.Inferno)]
OUTLINE = "rgba(120, 200, 255, 0.55)"


def mismatch(metas: list[dict], models: list) -> str | None:
    """Why two checkpoints cannot be compared on one image (None when they can)."""
    deep = [hasattr(m, "network_name") for m in models]
    if not any(deep):
        return None
    what = [f"{m.get('network') or 'mnist-conv'} on {m.get('dataset') or 'mnist'}" for m in metas]
    if not all(deep) or what[0] != what[1] or models[0].in_channels != models[1].in_channels:
        return (f"model A is {what[0]}, model B is {what[1]}: pick two checkpoints of the same network "
                f"and dataset (the shipped ReLU / AReLU ResNet-18 pair, say)")
    return None


@st.cache_resource(show_spinner=False)
def _test_images(dataset: str):
    """A few test images per class: the shipped gallery of the dataset, else its local test set."""
    from arelu_core.data import dataset_info
    info = dataset_info(dataset)
    try:
        from arelu_core.data import gallery_path          # the per-dataset galleries (assets/<key>_test_sample.npz)
        with np.load(gallery_path(info.key)) as data:
            images = np.asarray(data["images"], dtype=np.float32)
            images = images / 255.0 if images.max() > 1 else images
            images = images[:, None] if images.ndim == 3 else images
            return images, np.asarray(data["labels"]), np.asarray(data["indices"]), "shipped gallery"
    except (ImportError, OSError, KeyError):
        from arelu_core.data import load_dataset
        test = load_dataset(info.key, False, download=False)
        labels = test.labels.numpy()
        picks = np.concatenate([np.flatnonzero(labels == c)[:10] for c in range(info.num_classes)])
        return test.images[picks].numpy(), labels[picks], picks, "local test set"


def _class_names(dataset: str, n: int) -> list[str]:
    from arelu_core.data import dataset_info
    names = getattr(dataset_info(dataset), "class_names", None) or []
    return list(names) if len(names) == n else [str(i) for i in range(n)]


def cam_grid(pairs, image: np.ndarray, names: list[str]) -> go.Figure:
    """Rows: the stages; columns: model A's Grad-CAM, model B's, and A - B."""
    titles = []
    for p in pairs:
        size = f"{p.raw_size[0]}×{p.raw_size[1]}"
        titles += [f"{p.label} ({size}) · {names[0]}", f"{p.label} · {names[1]}", f"{p.label} · A − B"]
    fig = make_subplots(rows=len(pairs), cols=3, subplot_titles=titles, horizontal_spacing=0.04,
                        vertical_spacing=0.06 if len(pairs) > 2 else 0.15)
    gray = image.mean(0)
    for row, p in enumerate(pairs, start=1):
        for col, (z, scale, zmin) in enumerate(((p.cam_a, CAM_SCALE, 0), (p.cam_b, CAM_SCALE, 0),
                                                (p.difference, "RdBu_r", -1)), start=1):
            fig.add_trace(go.Heatmap(z=z[::-1], colorscale=scale, zmin=zmin, zmax=1, showscale=row == 1 and col in (2, 3),
                                     colorbar=dict(len=0.25, y=0.9, x=1.0 if col == 3 else 0.66, thickness=10),
                                     hovertemplate="%{z:.2f}<extra></extra>"), row, col)
            fig.add_trace(go.Contour(z=gray[::-1], showscale=False, contours=dict(start=0.3, end=0.3, coloring="none"),
                                     line=dict(color=OUTLINE if col < 3 else "rgba(0,0,0,0.3)", width=1),
                                     hoverinfo="skip"), row, col)
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, scaleanchor="x", constrain="domain")
    for i in range(2, 3 * len(pairs) + 1):
        fig.update_yaxes(scaleanchor=f"x{i}", row=(i - 1) // 3 + 1, col=(i - 1) % 3 + 1)
    fig.update_layout(height=250 * len(pairs) + 40, margin=dict(l=0, r=40, t=40, b=0), showlegend=False)
    return fig


def render(models: list, metas: list[dict], names: list[str], user_errors, link=None,
           paths: list | None = None) -> None:
    """The deep-network view of the page (called when both checkpoints are deep networks). link: the page's
    ui.links.ViewLink, the class and sample are bound to the URL and recorded there; `paths`: the two
    checkpoint files (the shipped Fig. 5 figure is looked up by them)."""
    from arelu_core.data import dataset_info
    from arelu_core.deep_networks import network_info
    dataset = metas[0].get("dataset") or "mnist"
    network = network_info(models[0].network_name).name
    st.caption(f"Both checkpoints are {network} networks trained on {dataset_info(dataset).name}. Grad-CAM (Selvaraju et al.) at "
               f"the first layer, as the paper's Fig. 5 shows it for ResNet-18 on CIFAR-100, and at each stage's "
               f"output; the third column is A − B (red: where A looks more).")
    gallery = None
    with user_errors("Could not open the test images"):
        gallery = _test_images(dataset)
    if gallery is None:
        st.stop()
    images, labels, indices, origin = gallery
    classes = _class_names(dataset, models[0].num_classes)
    pick_class, pick_sample = st.columns([1, 2])
    present = sorted({int(c) for c in labels})
    cls = pick_class.selectbox("Class", present, format_func=lambda c: classes[c], key="deep_cam_class",
                               bind="query-params")
    positions = np.flatnonzero(labels == cls)
    number = pick_sample.slider("Sample of that class", 1, len(positions), 1, key="deep_cam_sample", bind="query-params")
    if link is not None:
        link.add("deep_cam_class", cls, present[0], lambda c: classes[c])
        link.add("deep_cam_sample", number, 1)
        link.render()
    position = int(positions[number - 1])
    image = images[position]
    result = None
    with user_errors("Grad-CAM failed"):
        result = compare_deep(models[0], models[1], image)
    if result is None:
        st.stop()
    pairs, target, probs_a, probs_b = result
    left, right = st.columns([1, 3])
    with left:
        shown = image.transpose(1, 2, 0) if image.shape[0] == 3 else image[0]
        st.image(np.clip(shown, 0, 1), caption=f"{origin}: test image #{int(indices[position])}, "
                                               f"label {classes[int(labels[position])]}", width=180, clamp=True)
    with right:
        st.markdown(f"Explained class: **{classes[target]}** (model A's prediction).  \n"
                    f"{names[0]}: {probs_a[target] * 100:.1f}% for it · {names[1]}: {probs_b[target] * 100:.1f}% "
                    f"(its own top class: {classes[int(np.argmax(probs_b))]})")
    first, every = st.tabs(["First layer (paper Fig. 5)", "Every stage"])
    with first:
        grid, scored = st.columns([2, 1]) if paths else (st.container(), None)
        draw_chart(cam_grid(pairs[:1], image, names), key="deep_cam_first", container=grid)
        if scored is not None:
            with scored, user_errors("Could not score the maps"):
                st.markdown("**How focused? The first layer's maps, scored**")
                cam_scores_view.render_scores(models, paths, names, image, [pairs[0].cam_a, pairs[0].cam_b],
                                              [target, target], f"Grad-CAM at the first layer, for {classes[target]}",
                                              key="deep_cam")
    with every:
        draw_chart(cam_grid(pairs, image, names), key="deep_cam_all")
    st.caption("Each map is scaled to [0, 1] on its own (Grad-CAM's ReLU keeps positive evidence only); "
               "coarse stages are upsampled bilinearly to the image. Outline: the image at 30% intensity.")
    if paths:
        with user_errors("Could not read the shipped Fig. 5 results"):
            cam_scores_view.render_verdict(paths)
