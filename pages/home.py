"""Home: what AReLU is, what each page shows, and what this machine offers (device, data)."""
from pathlib import Path

import streamlit as st

from arelu_core import activation_info, data, explore
from arelu_core.activations.formula import ALPHA_MAX, ALPHA_MIN
from arelu_core.trainer import device_label, resolve_device
from ui.links import titled
from ui.navigation import through_app

through_app()   # a deep link on a fresh server: run through app.py (ui/navigation.py)

link = titled("AReLU Lab", "")
st.caption("An interactive companion to Chen, Li & Xu, *AReLU: Attention-based Rectified Linear Unit* "
           "(arXiv:2006.13858).")
with st.container(border=True):
    text, start = st.columns([4, 1], vertical_alignment="center")
    text.markdown("**Teaching a class?** The Lesson walks through the paper's argument step by step: each step "
                  "asks the class a question to predict, then reveals the answer, computed now.")
    start.page_link("pages/lesson.py", label="**Start the lesson**", icon=":material/school:")

st.markdown(
    "**AReLU** is a ReLU with two learnable numbers per layer. Where ReLU throws negative inputs away and "
    "passes positive ones unchanged, AReLU keeps the negatives, scaled down by a factor C(α) between "
    f"{ALPHA_MIN:g} and {ALPHA_MAX:g}, and amplifies the positives by a factor 1 + σ(β) between 1 and 2. The paper calls the "
    "scaling an *element-wise sign-based attention* (ELSA): each element is weighted according to its "
    "sign, and α and β are learned with the rest of the network, so each layer picks its own attention.")
st.markdown(
    "The amplification matters most when learning is slow: the gradient flowing back through a "
    "positive element is multiplied by 1 + σ(β) > 1 instead of 1, so it vanishes less with depth, and the "
    "paper reports much faster convergence at small learning rates (93% versus 36% test accuracy after "
    "one epoch for ReLU, with SGD at 1e-3 on MNIST). It costs two parameters per layer. ELSA can also be "
    "added to any other activation R as R(x) + ELSA(x).")
st.latex(r"F(x)=\begin{cases}C(\alpha)\,x & x<0\\[2pt](1+\sigma(\beta))\,x & x\ge 0\end{cases}"
         rf"\qquad C(\alpha)=\min(\max(\alpha,\,{ALPHA_MIN:g}),\,{ALPHA_MAX:g}),\quad \sigma(\beta)=\frac{{1}}{{1+e^{{-\beta}}}}")
defaults = activation_info("arelu").defaults
st.caption(f"Default initialisation α = {defaults['alpha']:g}, β = {defaults['beta']:g}, so "
           f"C(α) = {explore.clamped_alpha(defaults['alpha']):.2f} and 1 + σ(β) ≈ {explore.amplification(defaults['beta']):.2f}.")

st.subheader("The pages")
PAGES = [
    ("pages/lesson.py", "Lesson",
     "the paper's argument in steps for a class: predict, then reveal the answer computed now; the step is in the URL."),
    ("pages/explore.py", "Explore the function",
     "drag α and β and watch F(x) and its derivative, the amplified and suppressed regions, other "
     "activations and ELSA on top of them, and the curves a trained network actually learned per layer."),
    ("pages/gradient_flow.py", "Gradient flow",
     "a deep freshly initialised stack (up to 50 layers): gradient norm and activation statistics per layer, "
     "ReLU beside AReLU and others, to see gradients vanish or grow."),
    ("pages/train_live.py", "Train live",
     "race up to four activations on MNIST-Conv in the background, with loss, accuracy and α/β moving "
     "live; save the result as a checkpoint and download the metrics."),
    ("pages/inspect_digit.py", "Feature maps & Grad-CAM",
     "what a trained network looks at: feature maps before and after the activation, and class activation maps."),
    ("pages/reproduce.py", "Reproduce the paper",
     "the paper's published numbers (Table 1's first-epoch accuracies and more) beside this project's own reruns."),
]
for path, title, description in PAGES:
    left, right = st.columns([1, 3], vertical_alignment="center")
    if (Path(__file__).resolve().parents[1] / path).is_file():
        left.page_link(path, label=title)
    else:  # a page still being written: name it, don't link it
        left.markdown(f"**{title}** (coming soon)")
    right.markdown(description)

st.subheader("This machine")
device_column, data_column = st.columns(2)
device = resolve_device("auto")
device_column.metric("Training device", device_label(device),
                     help="What 'auto' uses on Train live: the first CUDA GPU when there is one, else the CPU.")
if device.type == "cpu":
    device_column.caption("No CUDA GPU found: trainings run on the CPU.")
data_dir = data.resolve_data_dir()
if data.mnist_available():
    data_column.metric("MNIST", "available")
    data_column.caption(f"Found in `{data_dir}/MNIST/raw`.")
else:
    data_column.metric("MNIST", "not downloaded yet")
    data_column.caption(f"Looked for in `{data_dir}/MNIST/raw`. Train live can download it (about 11 MB), "
                        f"or set `{data.ENV_VAR}` to a folder holding `MNIST/raw` in torchvision's layout.")
link.render()
