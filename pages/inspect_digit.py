"""Feature maps & Grad-CAM: one digit through two checkpoints side by side (paper Fig. 1 right, Fig. 5).

The page only draws: arelu_core.inspection prepares the digit, runs the models and computes the CAMs.
"""
import time

import streamlit as st

from arelu_core import activation_info, explore, inspection
from arelu_core.data import DATASETS, dataset_info, gallery_path
from arelu_core.errors import AReLULabError, one_line
from ui import cam_scores_view, deep_cam_view
from ui import inspect_figures as figures
from ui.common import checkpoint_label, list_checkpoints, load_checkpoint_cached, user_errors
from ui.navigation import through_app

through_app()   # a deep link on a fresh server: run through app.py (ui/navigation.py)

st.title("Feature maps & Grad-CAM")
st.caption("One image through two trained networks, side by side: MNIST-Conv checkpoints show their feature "
           "maps before and after each block's activation (what it does to negative and positive responses, "
           "paper Fig. 1, right); every checkpoint shows class activation maps, where the network finds "
           "evidence for a class (paper Fig. 5; for a ResNet-18, at its first layer and at each stage).")


@st.cache_resource(show_spinner=False)
def gallery(path: str):
    return inspection.load_gallery(path)


def short_name(model) -> str:
    try:
        return activation_info(model.activation_name).name
    except AReLULabError:
        return str(model.activation_name)


# -- the two checkpoints --------------------------------------------------------------------------
entries = list_checkpoints(include_deep=True)
if not entries:
    st.info("No checkpoint yet. Train one on **Train live** and save it, or run scripts/make_checkpoints.py.")
    st.stop()


def entry_dataset(entry) -> str | None:
    """The dataset a checkpoint was trained on: the manifest says, else its metadata (read once, cached)."""
    if entry.dataset:
        return entry.dataset
    try:
        return load_checkpoint_cached(entry.path)[1]["dataset"]
    except Exception:  # unreadable: listed under every dataset, and choosing it shows why in one line
        return None


# The gallery, the class names and the upload preprocessing follow the checkpoints' dataset.
known = {id(entry): entry_dataset(entry) for entry in entries}
offered = [key for key in DATASETS if key in known.values()] or ["mnist"]
dataset = st.segmented_control("Dataset", offered, default="mnist" if "mnist" in offered else offered[0],
                               required=True, format_func=lambda key: dataset_info(key).name, key="inspect_dataset",
                               help="Checkpoints are listed by the dataset they were trained on.")
info = dataset_info(dataset)


def widget_key(name: str) -> str:
    """One widget state per dataset (a model or class picked for MNIST is no choice for clothes)."""
    return name if dataset == "mnist" else f"{name}_{dataset}"


entries = [entry for entry in entries if known[id(entry)] in (dataset, None)]


def default_index(activation: str, fallback: int) -> int:
    for index, entry in enumerate(entries):
        if entry.activation == activation and entry.source == "shipped":
            return index
    return min(fallback, len(entries) - 1)


pick_a, pick_b = st.columns(2)
entry_a = pick_a.selectbox("Model A", entries, index=default_index("relu", 0), format_func=checkpoint_label,
                           key=widget_key("inspect_model_a"))
entry_b = pick_b.selectbox("Model B", entries, index=default_index("arelu", 1), format_func=checkpoint_label,
                           key=widget_key("inspect_model_b"))
models, metas = [], []
for column, entry in ((pick_a, entry_a), (pick_b, entry_b)):
    with column, user_errors(f"Could not load {entry.path.name}"):
        model, meta = load_checkpoint_cached(entry.path)
        models.append(model)
        metas.append(meta)
if len(models) < 2:
    st.stop()
names = [f"A: {short_name(models[0])}", f"B: {short_name(models[1])}"]
if names[0][3:] == names[1][3:]:
    names = [f"A: {entry_a.title}", f"B: {entry_b.title}"]

# -- deep networks (paper Fig. 5): their own view, on their dataset's images ----------------------
problem = deep_cam_view.mismatch(metas, models)
if problem:
    st.error(problem)
    st.stop()
if hasattr(models[0], "network_name"):
    deep_cam_view.render(models, metas, names, user_errors, paths=[entry_a.path, entry_b.path])
    st.stop()
if (info.channels, info.size, info.size) != inspection.MNIST_SHAPE:   # MNIST-Conv views: 28x28 grey only
    st.info(f"This page inspects 28×28 grey images with MNIST-Conv; {info.describe()} checkpoints of it can be "
            f"evaluated with `arelu evaluate` but not inspected here yet (deep networks can: pick two).")
    st.stop()

# -- the digit ------------------------------------------------------------------------------------
st.subheader("The digit" if dataset == "mnist" else "The image")
source_column, digit_column = st.columns([3, 1])
has_gallery = gallery_path(dataset).exists()
recipe = "the MNIST way" if dataset != "fashion-mnist" else "the Fashion-MNIST way"
with source_column:
    source = st.segmented_control("Digit from" if dataset == "mnist" else "Image from",
                                  ["Gallery", "Upload", "Draw"] if has_gallery else ["Upload", "Draw"],
                                  default="Gallery" if has_gallery else "Upload", required=True,
                                  key=widget_key("inspect_source"),
                                  help=f"Gallery: real {info.name} test images shipped with the app (works offline)."
                                  if has_gallery else f"No {info.name} sample ships with the app: upload or draw one.")
digit, digit_note = None, ""

if source == "Gallery":
    with source_column, user_errors(f"Could not open the {info.name} gallery"):
        sample = gallery(str(gallery_path(dataset)))
        class_column, which_column = st.columns([1, 2])
        digit_class = class_column.selectbox("Class", list(range(info.num_classes)), index=7,
                                             format_func=lambda c: info.class_names[c], key=widget_key("inspect_class"))
        positions = sample.of_class(digit_class)
        number = which_column.slider("Sample of that class", 1, len(positions), 1, key="inspect_sample")
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
        st.space("medium")     # room for the canvas's floating toolbar (undo, redo, clear)
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
    st.stop()


pixels = digit[0].amax(0).numpy()
with digit_column:
    st.plotly_chart(figures.digit_figure(pixels), key="inspect_digit_image", config={"displayModeBar": False})
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
    st.stop()

st.subheader("Predictions")
metric_columns = st.columns([1, 1, 3])
for column, name, result in zip(metric_columns, names, results):
    column.metric(name, info.class_names[result.predicted], f"{result.probabilities[result.predicted]:.1%} sure",
                  delta_color="off", delta_arrow="off")
metric_columns[2].plotly_chart(figures.probabilities_figure(names, results, info.class_names),
                               key="inspect_probabilities")

# -- feature maps (paper Fig. 1, right) -------------------------------------------------------------
st.subheader("Feature maps before and after the activation")
st.caption("Each tile is one channel. Blue is negative, red positive, white zero; one colour scale per model "
           "and block, shared by its before/after rows. ReLU turns every blue pixel white; AReLU keeps it, "
           "scaled by C(α), and makes red stronger by 1 + σ(β).")


def activation_caption(model, block: int) -> str:
    params = model.activation_parameters()[block]
    slopes = explore.attention_slopes(model.activation_name, params)
    if slopes:
        return "learned " + ", ".join(f"{label} = {value:.3f}" for label, value in slopes.items())
    if params:
        return "learned " + ", ".join(f"{key} = {value:.3f}" for key, value in params.items())
    return "no learned parameters"


sizes = [result_features["pre"].shape[-1] for result_features in results[0].features]   # square maps per block
for block, tab in enumerate(st.tabs([f"Block {i + 1} · {s}×{s}" for i, s in enumerate(sizes)])):
    with tab:
        if sizes[block] == 1:
            st.caption(f"The last block's maps are 1×1: each tile is a single number, the "
                       f"{results[0].features[block]['post'].shape[0]} features the classifier reads.")
        for side, (column, name, model, result) in enumerate(zip(st.columns(2), names, models, results)):
            maps = result.features[block]
            column.markdown(f"**{name}** · {maps['pre'].shape[0]} channels · {activation_caption(model, block)}")
            column.plotly_chart(figures.feature_figure(maps, per_row=5 if maps["pre"].shape[0] <= 20 else 10),
                                key=f"inspect_maps_{block}_{side}")


# -- class activation maps (paper Fig. 5) -----------------------------------------------------------
st.subheader("Where each block finds the evidence (class activation maps)")
method_column, stage_column, class_column = st.columns([2, 2, 2])
METHOD_NOTES = {"eigencam": " (ignores the class)", "scorecam": " (slower)"}
method = method_column.selectbox("Method", list(inspection.CAM_METHODS),
                                 format_func=lambda key: inspection.CAM_METHODS[key] + METHOD_NOTES.get(key, ""),
                                 key="inspect_cam_method",
                                 help="Gradient methods weigh the block's channels by the class score's gradient. "
                                      "Eigen-CAM ignores the class. Score-CAM masks the input with every channel "
                                      "and runs the network again: slower.")
stage = stage_column.radio("Maps", inspection.CAM_STAGES, horizontal=True, key="inspect_cam_stage",
                           format_func={"post": "after the activation", "pre": "before it"}.get)
target = class_column.selectbox("Explain class", [None] + list(range(info.num_classes)), key="inspect_cam_class",
                                format_func=lambda c: "each model's prediction" if c is None else info.class_names[c])
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
    left.plotly_chart(figures.cam_figure(comparisons, names, pixels, [size > 1 for size in sizes]), key="inspect_cams")
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
