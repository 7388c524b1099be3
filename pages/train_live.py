"""Train live: race up to four activations on MNIST-Conv in the background and watch them learn.

Trainings run in worker processes of the process-wide JobManager, not in this script: a rerun, a visit to another
page or a reload leaves them running. A race's id is in the URL (?race=<id>), so a reload or a shared link finds it;
the settings are in the URL too (bound widgets), so the link reopens the same view (ui/race_state.py).
"""
import streamlit as st
import torch

from arelu_core import activation_info, data, explore, list_activations, runs
from arelu_core.activations.arelu import LEARN_LABELS
from arelu_core.errors import AReLULabError
from arelu_core.races import first_epoch_accuracy, table1_comparison
from arelu_core.trainer import device_label, resolve_device
from ui import live_figures, race_cards, race_state as state
from ui.common import get_job_manager, session_owner_id, user_errors
from ui.navigation import through_app
from ui.echarts import draw as draw_chart

through_app()   # a deep link on a fresh server: run through app.py (ui/navigation.py)

LINK_CHECKED = "train_link_checked"
ELSA_LIKE = "AReLU and every +ELSA activation"

st.title("Train live")
st.caption("MNIST-Conv (paper section 2), one background training per activation. Leave the page or reload it: "
           "the race goes on, and its link (below) opens it in any browser.")

manager, owner = get_job_manager(), session_owner_id()
first_run = not st.session_state.get(LINK_CHECKED)
given_settings = state.link_settings() if first_run else {}   # read before the widgets drop what they reject
jobs, race_note = state.shown_jobs(manager, owner)
racing = any(job.active for job in jobs)
owns_race = any(job.owner == owner for job in jobs)

# -- actions: the paper's race, stop or clear, the link -------------------------------------------------------
paper_column, action_column, link_column = st.columns([2, 1, 1], vertical_alignment="center")
paper_column.button("The paper's race: ReLU vs AReLU", type="primary", icon=":material/sports_score:",
                    disabled=racing, on_click=state.start_paper_race, args=(manager, owner, jobs),
                    help="Table 1's SGD 1e-3 column: SGD with momentum 0.9, learning rate 1e-3, batch 128, one epoch "
                         "on all 60 000 MNIST digits (about 21 s per training on an idle 2-core CPU).")
if racing and owns_race:
    action_column.button("Stop", icon=":material/stop:", on_click=state.stop_race, args=(manager, owner, jobs))
elif jobs:
    action_column.button("Clear results" if not racing else "Leave this race", icon=":material/delete_sweep:",
                         on_click=state.clear_race)
with link_column.popover("Link to this view", icon=":material/link:"):
    st.caption("Opens these settings, and the race with its charts, in any browser (until the server restarts).")
    link_slot = st.empty()
notes = st.empty()
if state.START_ERROR in st.session_state:
    st.error(st.session_state.pop(state.START_ERROR))
if racing and not owns_race:
    st.caption("This race was started in another browser session: it runs to its end, and only that session can "
               "stop it.")


# -- live view ----------------------------------------------------------------------------------------------
def live_cards(polling: bool, every: float) -> None:
    full_run = st.session_state.pop(state.FULL_RUN, False)
    with user_errors("Could not draw the live view"):
        draw_cards(polling and not full_run, every, race_on=polling)


def draw_cards(polling: bool, every: float, race_on: bool = False) -> None:
    """The job cards, redrawn at the chosen interval. polling: one of the timed redraws (not the page's full run)."""
    jobs, _ = state.shown_jobs(manager, owner)
    columns, colours = st.columns(len(jobs)), live_figures.job_colours(jobs)
    for index, job in enumerate(jobs):
        race_cards.job_card(columns[index], manager, job, colours[index],
                            runs.progress_tables(job.snapshot()))
    interval = state.record_refresh(every) if polling else None
    if interval:
        charts, parameters = state.chart_intervals(every)
        st.caption(f"Live view redrawn every {interval:.2f} s (measured over the last redraws); "
                   f"the charts every {charts:g} s, the parameters every {parameters:g} s.")
    # race_on: the race was running when this page run began. It can end before this point even in the
    # page's own full run (then no timed redraw may follow, and the results would never be drawn).
    if race_on and not any(job.active for job in jobs):
        st.rerun()  # the race just ended: one full run draws the results below and stops the polling


def live_charts() -> None:
    with user_errors("Could not draw the live charts"):
        jobs, _ = state.shown_jobs(manager, owner)
        progresses = [runs.progress_tables(job.snapshot()) for job in jobs]
        draw_chart(live_figures.loss_and_accuracy_figure(jobs, progresses), key="train_loss_accuracy")
        test_size = data.dataset_info(jobs[0].config.dataset).test_size if jobs else 10_000
        st.caption("Accuracy lines: a fixed set of 1 000 test images, checked during the epoch. "
                   f"Diamonds: all {test_size:,} test images at the end of each epoch.".replace(",", " "))


def live_parameters() -> None:
    with user_errors("Could not draw the learnable parameters"):
        jobs, _ = state.shown_jobs(manager, owner)
        figure = live_figures.parameters_figure(jobs, [runs.progress_tables(job.snapshot()) for job in jobs])
        if figure is not None:
            st.markdown("**Learnable parameters of each layer** (paper Fig. 2b)")
            draw_chart(figure, key="train_parameters")


refresh_seconds = st.session_state.get("train_refresh", state.REFRESH_DEFAULT)
if jobs:
    st.session_state[state.FULL_RUN] = True
    charts_every, parameters_every = state.chart_intervals(refresh_seconds)
    st.fragment(live_cards, run_every=refresh_seconds if racing else None)(racing, refresh_seconds)
    if not racing:
        with user_errors("Could not compare with the paper"):
            line = table1_comparison([job.config for job in jobs], [first_epoch_accuracy(job.snapshot()) for job in jobs])
            if line:
                st.info(line, icon=":material/menu_book:")
    st.fragment(live_charts, run_every=charts_every if racing else None)()


# -- settings: open until a race is shown, then folded away (the projector shows the race) -------------------
settings_label = "Race settings" if not jobs else "Race settings (for the next race)"
with st.expander(settings_label, expanded=not jobs, icon=":material/tune:"):
    dataset = st.selectbox("Dataset", list(data.DATASETS), key="train_dataset", persist_state="session",
                           bind="query-params", format_func=state.dataset_label,
                           help="The network's input channels and classes follow the dataset (SVHN: 3×32×32).")
    info = data.dataset_info(dataset)
    if not data.dataset_available(dataset):
        where = data.resolve_data_dir()

        def how_to_get_data() -> None:
            files = ", ".join(f"`{name}`" for name in info.files) + (", optionally gzipped" if info.idx_format else "")
            st.info(f"To train offline, put the {info.name} files ({files}) into `{where}/{info.folder}`, "
                    f"or start the app with `{data.ENV_VAR}` set to a folder that holds `{info.folder}` in "
                    "torchvision's layout.")

        st.warning(f"{info.name} is not on this machine yet (looked in `{where}/{info.folder}`).")
        if st.button(f"Download {info.name} (about {info.download_mb} MB)", type="primary"):
            bar = st.progress(0.0, text="Connecting…")

            def show_progress(name: str, done: int, total: int) -> None:
                fraction = min(done / total, 1.0) if total else 0.0
                bar.progress(fraction, text=f"{name}: {done / 1e6:.1f} of {total / 1e6:.1f} MB")

            try:
                if dataset == "mnist":
                    data.download_mnist(progress=show_progress)
                else:
                    data.download_dataset(dataset, progress=show_progress)
            except Exception as exc:  # offline, a mirror down, a full disk...: one line, then the way round it
                bar.empty()
                st.error(f"The download failed: {exc if isinstance(exc, (AReLULabError, OSError)) else repr(exc)}")
                how_to_get_data()
            else:
                st.rerun()
        else:
            how_to_get_data()
    else:
        st.caption(f"{info.describe()}. The paper's Table 1 trains on all 60 000 MNIST digits: at SGD 1e-3 a subset "
                   "of a few thousand leaves every activation near chance (10%), so use it for higher learning rates.")
        with st.form("race_settings", border=False):
            choices = list_activations() + explore.elsa_names(include_non_elementwise=True)
            st.multiselect("Activations (one to four)", choices, default=state.DEFAULTS["train_activations"],
                           max_selections=4, format_func=lambda key: activation_info(key).name,
                           key="train_activations", persist_state="session", bind="query-params")
            c1, c2, c3, c4 = st.columns(4)
            c1.selectbox("Optimizer", list(state.OPTIMIZERS), key="train_optimizer", persist_state="session",
                         bind="query-params", format_func=state.OPTIMIZERS.get)
            c2.select_slider("Learning rate", state.LEARNING_RATES, value=state.DEFAULTS["train_lr"],
                             format_func=lambda v: f"{v:g}", key="train_lr", persist_state="session",
                             bind="query-params")
            c3.selectbox("Batch size", state.BATCH_SIZES, index=state.BATCH_SIZES.index(state.DEFAULTS["train_batch_size"]),
                         key="train_batch_size", persist_state="session", bind="query-params")
            c4.slider("Epochs", 1, 20, state.DEFAULTS["train_epochs"], key="train_epochs", persist_state="session",
                      bind="query-params")
            c5, c6, c10, c7, c8, c9 = st.columns(6)
            alpha_spec = activation_info("arelu").param("alpha")   # ELSA's α
            c5.slider("Initial α", alpha_spec.train.low, alpha_spec.train.high, state.DEFAULTS["train_alpha"], 0.01,
                      key="train_alpha", persist_state="session", bind="query-params",
                      help=f"For {ELSA_LIKE}. The paper's Fig. 2 tries 0.01 to 0.99.")
            c6.slider("Initial β", -5.0, 5.0, state.DEFAULTS["train_beta"], 0.5, key="train_beta",
                      persist_state="session", bind="query-params",
                      help=f"For {ELSA_LIKE}. The paper's Fig. 2 tries -2 to 2.")
            c10.selectbox("Learn", list(LEARN_LABELS), format_func=LEARN_LABELS.get, key="train_learn",
                          persist_state="session", bind="query-params",
                          help=f"For {ELSA_LIKE}: which of α, β training changes; 'neither' keeps the initial curve "
                               "(the ablation's).")
            c7.number_input("Seed", 0, 1_000_000, state.DEFAULTS["train_seed"], key="train_seed",
                            persist_state="session", bind="query-params")
            devices = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
            c8.selectbox("Device", devices, key="train_device", persist_state="session", bind="query-params",
                         help=f"auto = {device_label(resolve_device('auto'))}")
            c9.selectbox("Training images", state.SUBSETS, key="train_subset", persist_state="session",
                         bind="query-params", format_func=lambda n: state.subset_label(n, dataset),
                         help="The paper's Table 1 uses all 60 000 MNIST digits.")
            st.form_submit_button("Start race", type="primary", disabled=racing, on_click=state.start_race,
                                  args=(manager, owner, jobs), help="Stop the current race first." if racing else None)
    if racing:
        st.select_slider("Redraw the live view every", state.REFRESH_CHOICES, value=state.REFRESH_DEFAULT,
                         format_func=lambda s: f"{s:g} s", key="train_refresh", persist_state="session",
                         help=f"The job cards; the charts follow every {state.CHART_SECONDS:g} s, the parameters "
                              f"every {state.PARAMETER_SECONDS:g} s, or at this interval when it is longer. Each "
                              "redraw costs CPU time: on a small server shared by many browsers, redraw less often.")

# -- the link and what it could not bring ----------------------------------------------------------------------
link_slot.code(state.view_link(), language=None, wrap_lines=True)
rejected = state.rejected_settings(given_settings)
st.session_state[LINK_CHECKED] = True
if race_note or rejected:
    notes.info(" ".join(filter(None, [race_note, rejected and (
        f"Some settings of this link are not valid here and fell back to the default: {', '.join(rejected)}.")])),
        icon=":material/link_off:")

if jobs:
    st.fragment(live_parameters, run_every=parameters_every if racing else None)()

if jobs and not racing:
    st.subheader("Results")
    st.caption("Learned curve of each layer over the initial one (dashed), as in the paper's Fig. 2c.")
    colours = live_figures.job_colours(jobs)
    for index, job in enumerate(jobs):
        with st.container(border=True), user_errors(f"Could not show the result of {job.label}"):
            race_cards.result_card(job, colours[index])
