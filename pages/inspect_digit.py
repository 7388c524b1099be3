"""Feature maps & Grad-CAM: one digit through two checkpoints side by side (paper Fig. 1 right, Fig. 5).

The page only draws: arelu_core.inspection prepares the digit, runs the models and computes the CAMs.
"""
import time

import streamlit as st

from arelu_core import inspection
from arelu_core.data import DATASETS, dataset_info, gallery_path
from arelu_core.errors import AReLULabError, one_line
from ui import cam_scores_view, deep_cam_view
from ui import inspect_figures as figures
from ui.common import (checkpoint_family, checkpoint_label, list_checkpoints,
                       load_checkpoint_cached, user_errors)
from ui.links import BIND, titled
from ui.navigation import through_app
from ui.echarts import draw as draw_chart

through_app()   # a deep link on a fresh server: run through app.py (ui/navigation.py)

link = titled("Feature maps & Grad-CAM", "inspect_digit")
st.caption("One image through two trained networks: feature maps before and after each activation (paper Fig. 1, "
           "right) and class activation maps, where each network finds evidence for a class (paper Fig. 5).")


def stop():
    """st.stop(), after the link to this view (every way out of the page shows it)."""
    link.render()
    st.stop()


@st.cache_resource(show_spinner=False)
def gallery(path: str):
    return inspection.load_gallery(path)


# -- the dataset and the two checkpoints: B is always one A can be compared with ------------------------
entries = list_checkpoints(include_deep=True)
if not entries:
    st.info("No checkpoint yet. Train one on **Train live** and save it, or run scripts/make_checkpoints.py.")
    stop()
family = {entry.path: checkpoint_family(entry) for entry in entries}


def fits(entry, other) -> bool:
    """Same network on the same dataset (an unreadable file is offered everywhere: choosing it says why)."""
    return None in (family[entry.path], family[other.path]) or family[entry.path] == family[other.path]


def default_index(options, activation: str, fallback: int, besides=None) -> int:
    for index, entry in enumerate(options):
        if entry.activation == activation and entry.source == "shipped" and entry != besides:
            return index
    return min(fallback, len(options) - 1)


# The gallery, the class names and the upload preprocessing follow the checkpoints' dataset.
offered = [key for key in DATASETS if key in {f[1] for f in family.values() if f}] or ["mnist"]
default_dataset = "mnist" if "mnist" in offered else offered[0]
dataset_name = lambda key: dataset_info(key).name  # noqa: E731
pick_dataset, pick_source, pick_a, pick_b = st.columns([2.4, 2.8, 2.4, 2.4], vertical_alignment="bottom")
dataset = link.add("inspect_dataset", pick_dataset.segmented_control(
    "Dataset", offered, default=default_dataset, required=True, format_func=dataset_name, key="inspect_dataset",
    bind=BIND, help="Checkpoints are listed by the dataset they were trained on."), default_dataset, dataset_name)
info = dataset_info(dataset)
entries = [entry for entry in entries if family[entry.path] is None or family[entry.path][1] == dataset]
first = default_index(entries, "relu", 0)
entry_a = link.add("inspect_model_a", pick_a.selectbox(
    "Model A", entries, index=first, format_func=checkpoint_label, key="inspect_model_a", bind=BIND,
    help="Any checkpoint of this dataset: MNIST-Conv, or a deep network (ResNet-18)."),
    entries[first], checkpoint_label)
partners = [entry for entry in entries if fits(entry, entry_a)]
second = default_index(partners, "arelu" if entry_a.activation != "arelu" else "relu", 1, besides=entry_a)
entry_b = link.add("inspect_model_b", pick_b.selectbox(
    "Model B", partners, index=second, format_func=checkpoint_label, key="inspect_model_b", bind=BIND,
    help="The checkpoints of model A's network and dataset: the two look at the same image."),
    partners[second], checkpoint_label)
models, metas = [], []
for column, entry in ((pick_a, entry_a), (pick_b, entry_b)):
    with column, user_errors(f"Could not load {entry.path.name}"):
        model, meta = load_checkpoint_cached(entry.path)
        models.append(model)
        metas.append(meta)
if len(models) < 2:
    stop()
names = [f"A: {figures.short_name(models[0])}", f"B: {figures.short_name(models[1])}"]
if names[0][3:] == names[1][3:]:
    names = [f"A: {entry_a.title}", f"B: {entry_b.title}"]

# -- deep networks (paper Fig. 5): their own view, on their dataset's images ----------------------
DIGIT_KEYS = ("inspect_source", "inspect_class", "inspect_sample", "inspect_cam_method", "inspect_cam_stage",
              "inspect_cam_class")
problem = deep_cam_view.mismatch(metas, models)
if problem:      # only a file whose family could not be read gets here
    st.warning(problem)
    stop()
if hasattr(models[0], "network_name"):
    link.expect(*DIGIT_KEYS)
    deep_cam_view.render(models, metas, names, user_errors, link, paths=[entry_a.path, entry_b.path])
    stop()
link.expect("deep_cam_class", "deep_cam_sample")
if (info.channels, info.size, info.size) != inspection.MNIST_SHAPE:   # MNIST-Conv views: 28x28 grey only
    st.info(f"This page inspects 28×28 grey images with MNIST-Conv; {info.describe()} checkpoints of it can be "
            f"evaluated with `arelu evaluate` but not inspected here yet (deep networks can: pick two).")
    stop()

# -- the digit ------------------------------------------------------------------------------------
has_gallery = gallery_path(dataset).exists()
recipe = "the MNIST way" if dataset != "fashion-mnist" else "the Fashion-MNIST way"
default_source = "Gallery" if has_gallery else "Upload"
source = link.add("inspect_source", pick_source.segmented_control(
    "Digit from" if dataset == "mnist" else "Image from",
    ["Gallery", "Upload", "Draw"] if has_gallery else ["Upload", "Draw"], default=default_source, required=True,
    key="inspect_source", bind=BIND,
    help=f"Gallery: real {info.name} test images shipped with the app (works offline)."
    if has_gallery else f"No {info.name} sample ships with the app: upload or draw one."), default_source)
source_column, digit_column = st.columns([3, 1])
link.expect("inspect_class", "inspect_sample")
digit, digit_note = None, ""

if source == "Gallery":
    with source_column, user_errors(f"Could not open the {info.name} gallery"):
        sample = gallery(str(gallery_path(dataset)))
        class_column, which_column = st.columns([1, 2])
        class_name = lambda c: info.class_names[c]  # noqa: E731
        digit_class = link.add("inspect_class", class_column.selectbox(
            "Class", list(range(info.num_classes)), index=7, format_func=class_name, key="inspect_class", bind=BIND),
            7, class_name)
        positions = sample.of_class(digit_class)
        number = link.add("inspect_sample", which_column.slider(
            "Sample of that class", 1, len(positions), 1, key="inspect_sample", bind=BIND), 1)
        position = int(positions[number - 1])
        digit = inspection.as_digit_tensor(sample.images[position])
        digit_note = (f"{info.name} test {'digit' if dataset == 'mnist' else 'image'} #{int(sample.indices[position])}, "
                      f"label {info.class_names[int(sample.labels[position])]}")

elif source == "Upload":
    with source_column:
        what = {"mnist": "one digit", "fashion-mnist": "one garment, shoe or bag"}.get(dataset, "one character")
        upload = st.file_uploader(f"An image of {what} (any size; dark on light or light on dark)",
                                  type=["png", "jpg", "jpeg", "gif", "bmp", "webp"], key="inspect_upload")
        # no max_upload_size: the server refuses anything above .streamlit/config.toml's 5 MB anyway
        if upload is None:
            st.info(f"Upload a picture of {what}: it is cropped, scaled and centred {recipe}.")
        else:
            try:
                digit = inspection.prepare_image(upload.getvalue(), dataset)
                digit_note = f"from {upload.name}, prepared {recipe}"
            except AReLULabError as exc:
                st.error(f"Cannot use {upload.name}: {exc}")
            except Exception as exc:  # a decoder bug must not become a traceback either
                st.error(f"Cannot use {upload.name}: unexpected {type(exc).__name__}")

else:
    with source_column:
        st.caption(f"Draw {'one digit' if dataset == 'mnist' else 'one shape'} with the mouse, white on black "
                   f"like {info.name}.")
        st.space("small")      # room for the canvas's floating toolbar (undo, redo, clear)
        try:
            from streamlit_drawable_canvas import st_canvas
            drawing = st_canvas(stroke_width=22, stroke_color="#FFFFFF", background_color="#000000",
                                height=280, width=280, drawing_mode="freedraw", return_image_data=True,
                                key="inspect_canvas")
        except Exception as exc:  # the component is optional: say why and offer the other sources
            st.warning(f"The drawing canvas is unavailable ({one_line(exc, 160)}); use the gallery or upload an image.")
            drawing = None
        strokes = (drawing.json_data or {}).get("objects") if drawing is not None else None
        if drawing is not None and not strokes:
            st.info("Draw a digit on the canvas: the networks look at it as soon as you let go of the mouse.")
        elif strokes:
            try:
                digit = inspection.prepare_image(drawing.image_data, dataset)
                digit_note = f"your drawing, prepared {recipe}"
            except AReLULabError as exc:
                st.warning(f"Cannot use the drawing: {exc}")

if digit is None:
    link.expect(*DIGIT_KEYS)
    stop()


pixels = digit[0].amax(0).numpy()
with digit_column:
    draw_chart(figures.digit_figure(pixels), key="inspect_digit_image", config={"displayModeBar": False})
    st.caption(f"What the networks see ({pixels.shape[1]}×{pixels.shape[0]}). {digit_note}")

# -- predictions ----------------------------------------------------------------------------------
@st.cache_resource(show_spinner="Loading the Grad-CAM library (first time only)…")
def cam_library_loaded() -> bool:
    inspection.load_cam_library()          # a few seconds of imports, once per process
    return True


with user_errors("Could not load pytorch-grad-cam"):
    cam_library_loaded()
started = time.perf_counter()
results = []
with user_errors("Could not run the networks"):
    results = [inspection.inspect_digit(model, digit) for model in models]
compute_seconds = time.perf_counter() - started      # the drawing below is not the library's time
if len(results) < 2:
    link.expect(*DIGIT_KEYS)
    stop()

st.subheader("Predictions")
metric_columns = st.columns([1, 1, 3])
for column, name, result in zip(metric_columns, names, results):
    column.metric(name, info.class_names[result.predicted], f"{result.probabilities[result.predicted]:.1%} sure",
                  delta_color="off", delta_arrow="off")
draw_chart(figures.probabilities_figure(names, results, info.class_names,
                                        [model.activation_name for model in models]),
           key="inspect_probabilities", container=metric_columns[2])

# -- feature maps (paper Fig. 1, right) -------------------------------------------------------------
st.subheader("Feature maps before and after the activation")
st.caption("Each tile is one channel. Blue is negative, red positive, white zero; one colour scale per model "
           "and block, shared by its before/after rows. ReLU turns every blue pixel white; AReLU keeps it, "
           "scaled by C(α), and makes red stronger by 1 + σ(β).")


sizes = [result_features["pre"].shape[-1] for result_features in results[0].features]   # square maps per block
for block, tab in enumerate(st.tabs([f"Block {i + 1} · {s}×{s}" for i, s in enumerate(sizes)])):
    with tab:
        if sizes[block] == 1:
            st.caption(f"The last block's maps are 1×1: each tile is a single number, the "
                       f"{results[0].features[block]['post'].shape[0]} features the classifier reads.")
        for side, (column, name, model, result) in enumerate(zip(st.columns(2), names, models, results)):
            maps = result.features[block]
            column.markdown(f"**{name}** · {maps['pre'].shape[0]} channels · {figures.activation_caption(model, block)}")
            draw_chart(figures.feature_figure(maps, per_row=5 if maps["pre"].shape[0] <= 20 else 10),
                       key=f"inspect_maps_{block}_{side}", container=column)


# -- class activation maps (paper Fig. 5) -----------------------------------------------------------
st.subheader("Where each block finds the evidence (class activation maps)")
method_column, stage_column, class_column = st.columns([2, 2, 2])
METHOD_NOTES = {"eigencam": " (ignores the class)", "scorecam": " (slower)"}
method_name = lambda key: inspection.CAM_METHODS[key] + METHOD_NOTES.get(key, "")  # noqa: E731
methods = list(inspection.CAM_METHODS)
method = link.add("inspect_cam_method", method_column.selectbox(
    "Method", methods, format_func=method_name, key="inspect_cam_method", bind=BIND,
    help="Gradient methods weigh the block's channels by the class score's gradient. Eigen-CAM ignores the class. "
         "Score-CAM masks the input with every channel and runs the network again: slower."), methods[0], method_name)
stage_name = {"post": "after the activation", "pre": "before it"}.get
stage = link.add("inspect_cam_stage", stage_column.radio(
    "Maps", inspection.CAM_STAGES, horizontal=True, key="inspect_cam_stage", bind=BIND, format_func=stage_name),
    inspection.CAM_STAGES[0], stage_name)
target_name = lambda c: "each model's prediction" if c is None else info.class_names[c]  # noqa: E731
target = link.add("inspect_cam_class", class_column.selectbox(
    "Explain class", [None] + list(range(info.num_classes)), key="inspect_cam_class", bind=BIND,
    format_func=target_name), None, target_name)
if method == "scorecam":
    most = max(f["pre"].shape[0] for f in results[0].features)
    st.caption(f"Score-CAM runs the network once per channel (up to {most} times per map): it is the slowest method.")


comparisons = []
started = time.perf_counter()
with user_errors("Could not compute the class activation maps"):
    comparisons = [inspection.compare_cams(models[0], models[1], digit, block, stage, method, target)
                   for block in range(len(sizes))]
compute_seconds += time.perf_counter() - started
if comparisons:
    explained = ("each model's own prediction (A: {}, B: {})".format(info.class_names[results[0].predicted],
                                                                      info.class_names[results[1].predicted])
                 if target is None else f"class {info.class_names[target]}")
    st.caption(f"{inspection.CAM_METHODS[method]} of {explained}. Each map is scaled to [0, 1] on its own; "
               "the bottom row is A's map minus B's: red where A looks more, blue where B does.")
    left, right = st.columns([2, 1])
    draw_chart(figures.cam_figure(comparisons, names, pixels, [size > 1 for size in sizes]), key="inspect_cams", container=left)
    paths, scores = [entry_a.path, entry_b.path], None
    with right, user_errors("Could not score the maps"):
        st.markdown("**How focused? Block 1's maps, scored**")
        stage_name = {"post": "after the activation", "pre": "before it"}[stage]
        scores = cam_scores_view.render_scores(
            models, paths, names, digit[0], [comparisons[0].cam_a, comparisons[0].cam_b],
            [r.predicted if target is None else target for r in results],
            f"{inspection.CAM_METHODS[method]} at block 1 ({stage_name}), for the class it explains", key="inspect_cam")
    if scores and method in ("gradcam", "gradcam++") and min(s["on_object"] for s in scores) < 0.1:
        right.caption("Block 1 lights the background? Grad-CAM gives each channel one weight, and in the first "
                      "block those weights often turn negative on the strokes. Layer-CAM and HiRes-CAM weigh "
                      "every pixel and localise better in early blocks.")
    with user_errors("Could not read the shipped Fig. 5 results"):
        cam_scores_view.render_verdict(paths)
st.caption(f"Computing the predictions, feature maps and {len(sizes) * 2} CAMs of both networks took "
           f"{compute_seconds * 1000:.0f} ms; drawing them is the browser's work.")
link.render()
