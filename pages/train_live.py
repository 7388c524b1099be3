"""Train live: race up to four activations on MNIST-Conv in the background and watch them learn.

Trainings run in worker processes of the process-wide JobManager, not in this script: a rerun or a visit to another page
leaves them running, and this session finds them again through the job ids it keeps in session state.
"""
import time

import streamlit as st
import torch

from arelu_core import activation_info, data, explore, list_activations, runs
from arelu_core.activations.arelu import LEARN_LABELS
from arelu_core.errors import AReLULabError
from arelu_core.trainer import TrainConfig, device_label, resolve_device
from ui import charts, live_figures
from ui.common import get_job_manager, session_owner_id, user_errors
from ui.navigation import through_app

through_app()   # a deep link on a fresh server: run through app.py (ui/navigation.py)

JOB_IDS = "train_job_ids"
REFRESH_TIMES = "train_refresh_times"
FULL_RUN = "train_full_run"
SAVED = "train_saved_paths"
REFRESH_CHOICES = [0.5, 1.0, 2.0, 5.0]  # seconds between redraws of the live view's job cards
# Each redraw (a fragment run) costs the browser a fixed ~50 ms of CPU whatever it redraws: at 0.5 s the cards
# alone took a tenth of a core from the trainings on 2 cores (scripts/ui_cost.py), hence 2 s by default.
REFRESH_DEFAULT = 2.0
CHART_SECONDS, PARAMETER_SECONDS = 2.0, 5.0   # the charts are redrawn at most this often (chart_intervals)
LEARNING_RATES = [1e-5, 2e-5, 5e-5, 1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 1e-1]
SUBSETS = [None, 512, 2_000, 10_000, 30_000]
ELSA_LIKE = "AReLU and every +ELSA activation"

st.title("Train live")
st.caption("MNIST-Conv (paper section 2) trained on MNIST or another dataset, one background training per "
           "activation. Leave the page or rerun it: the trainings go on and are here when you come back.")

manager, owner = get_job_manager(), session_owner_id()


# -- data: chosen, there, downloadable, or explained -----------------------------------------------
dataset = st.selectbox("Dataset", list(data.DATASETS), key="train_dataset", persist_state="session",
                       format_func=lambda key: data.dataset_info(key).describe(),
                       help="The network's input channels and classes follow the dataset (SVHN: 3×32×32).")
info = data.dataset_info(dataset)


def how_to_get_data(where) -> None:
    files = ", ".join(f"`{name}`" for name in info.files) + (", optionally gzipped" if info.idx_format else "")
    st.info(f"To train offline, put the {info.name} files ({files}) into `{where}/{info.folder}`, "
            f"or start the app with `{data.ENV_VAR}` set to a folder that holds `{info.folder}` in torchvision's layout.")


if not data.dataset_available(dataset):
    where = data.resolve_data_dir()
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
            how_to_get_data(where)
        else:
            st.rerun()
    else:
        how_to_get_data(where)
    st.stop()


# -- the race's jobs ----------------------------------------------------------------------------
def race_jobs() -> list:
    """This session's current race (jobs pruned by the manager simply drop out)."""
    job_ids = st.session_state.get(JOB_IDS)
    jobs = [manager.get(owner, str(job_id)) for job_id in (job_ids if isinstance(job_ids, list) else [])]
    return [job for job in jobs if job is not None]


def activation_params(name: str, alpha: float, beta: float, learn: str) -> dict:
    # The sliders are ELSA's attention α and β: only activations that have it take them (CAReLU's are other things).
    params = {"alpha": alpha, "beta": beta} | ({} if learn == "both" else {"learn": learn})
    return params if activation_info(name).attention else {}


SETTING_KEYS = {"optimizer": "train_optimizer", "lr": "train_lr", "batch_size": "train_batch_size",  # setting: widget key
                "epochs": "train_epochs", "alpha": "train_alpha", "beta": "train_beta", "learn": "train_learn", "seed": "train_seed",
                "device": "train_device", "train_subset": "train_subset"}
START_ERROR = "train_start_error"


def start_race() -> None:
    """on_click of Start: runs before the script, so the page that follows already shows the race."""
    names = st.session_state.get("train_activations") or []
    settings = {setting: st.session_state[key] for setting, key in SETTING_KEYS.items()}
    if any(job.active for job in race_jobs()):
        st.session_state[START_ERROR] = "A race is still running: stop it first."
        return
    if not names:
        st.session_state[START_ERROR] = "Pick at least one activation."
        return
    live_every, params_every = runs.live_report_intervals(settings["train_subset"], settings["batch_size"], dataset)
    jobs = []
    try:
        for name in names:
            config = TrainConfig(activation=name, activation_params=activation_params(name, settings["alpha"], settings["beta"], settings["learn"]),
                                 optimizer=settings["optimizer"], lr=settings["lr"], batch_size=settings["batch_size"],
                                 epochs=settings["epochs"], seed=int(settings["seed"]), device=settings["device"],
                                 train_subset=settings["train_subset"], live_eval_every=live_every,
                                 params_every=params_every, dataset=dataset)
            jobs.append(manager.submit(owner, config, label=activation_info(name).name))
    except Exception as exc:  # AReLULabError says what to fix; anything else is still one line, no traceback
        for job in jobs:  # all or nothing: a half-started race is confusing
            manager.stop(owner, job.id)
        reason = str(exc) if isinstance(exc, AReLULabError) else f"unexpected {type(exc).__name__}: {exc}"
        st.session_state[START_ERROR] = f"Could not start: {reason}"
        return
    st.session_state[JOB_IDS] = [job.id for job in jobs]
    st.session_state[REFRESH_TIMES] = []


def stop_race() -> None:
    for job in race_jobs():
        manager.stop(owner, job.id)


def clear_race() -> None:
    st.session_state[JOB_IDS] = []


jobs = race_jobs()
racing = any(job.active for job in jobs)

# -- settings ------------------------------------------------------------------------------------
with st.form("race_settings", border=True):
    st.markdown("**Race settings**")
    choices = list_activations() + explore.elsa_names(include_non_elementwise=True)
    st.multiselect("Activations (one to four)", choices, default=["relu", "arelu"], max_selections=4,
                   format_func=lambda key: activation_info(key).name, key="train_activations", persist_state="session")
    c1, c2, c3, c4 = st.columns(4)
    c1.selectbox("Optimizer", ["sgd", "adam"], key="train_optimizer", persist_state="session",
                 format_func={"sgd": "SGD, momentum 0.9", "adam": "Adam"}.get)
    c2.select_slider("Learning rate", LEARNING_RATES, value=1e-3, format_func=lambda v: f"{v:g}", key="train_lr",
                     persist_state="session")
    c3.selectbox("Batch size", [32, 64, 128, 256, 512], index=2, key="train_batch_size", persist_state="session")
    c4.slider("Epochs", 1, 20, 1, key="train_epochs", persist_state="session")
    c5, c6, c10, c7, c8, c9 = st.columns(6)
    alpha_spec, beta_spec = (activation_info("arelu").param(name) for name in ("alpha", "beta"))  # ELSA's α, β
    c5.slider("Initial α", alpha_spec.train.low, alpha_spec.train.high, alpha_spec.default, 0.01, key="train_alpha",
              persist_state="session", help=f"For {ELSA_LIKE}. The paper's Fig. 2 tries 0.01 to 0.99.")
    c6.slider("Initial β", -5.0, 5.0, beta_spec.default, 0.5, key="train_beta", persist_state="session",
              help=f"For {ELSA_LIKE}. The paper's Fig. 2 tries -2 to 2.")
    c10.selectbox("Learn", list(LEARN_LABELS), format_func=LEARN_LABELS.get, key="train_learn", persist_state="session",
                  help=f"For {ELSA_LIKE}: which of α, β training changes; 'neither' keeps the initial curve (the ablation's).")
    c7.number_input("Seed", 0, 1_000_000, 0, key="train_seed", persist_state="session")
    devices = ["auto", "cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    c8.selectbox("Device", devices, key="train_device", persist_state="session",
                 help=f"auto = {device_label(resolve_device('auto'))}")
    c9.selectbox("Training images", SUBSETS, key="train_subset", persist_state="session",
                 format_func=lambda n: f"all {info.train_size:,}".replace(",", " ") if n is None
                 else f"first {n:,}".replace(",", " "),
                 help=f"A subset makes a quick demo; the paper's Table 1 uses all 60 000 MNIST digits.")
    st.form_submit_button("Start race", type="primary", disabled=racing, on_click=start_race,
                          help="Stop the current race first." if racing else None)

if START_ERROR in st.session_state:
    st.error(st.session_state.pop(START_ERROR))

refresh_seconds = REFRESH_DEFAULT
if jobs:
    button_column, _, refresh_column = st.columns([1, 2, 2], vertical_alignment="bottom")
    if racing:
        button_column.button("Stop", icon=":material/stop:", on_click=stop_race)
        refresh_seconds = refresh_column.select_slider(
            "Redraw the live view every", REFRESH_CHOICES, value=REFRESH_DEFAULT, format_func=lambda s: f"{s:g} s",
            key="train_refresh", persist_state="session",
            help=f"The job cards; the charts follow every {CHART_SECONDS:g} s, the parameters every "
                 f"{PARAMETER_SECONDS:g} s, or at this interval when it is longer. Each redraw costs CPU time: "
                 "on a small server shared by many browsers, redraw less often to leave more to the trainings.")
    else:
        button_column.button("Clear results", icon=":material/delete_sweep:", on_click=clear_race)


# -- live view -----------------------------------------------------------------------------------
def status_line(job) -> str:
    if job.status == "queued":
        position = manager.queue_position(job)
        return f"queued, position {position}" if position else "queued"
    return job.status


def job_card(column, job, color: str, progress) -> None:
    column.markdown(f"<span style='color:{color};font-size:1.15em'>■</span> **{job.label}** · {status_line(job)}",
                    unsafe_allow_html=True)
    total_steps = runs.steps_per_epoch(job.config.train_subset, job.config.batch_size,
                                       job.config.dataset) * job.config.epochs
    if job.status == "running":
        column.progress(min(progress.last_step / total_steps, 1.0),
                        text=f"step {progress.last_step} of {total_steps}" if progress.last_step
                        else "starting: a worker process loads the data")
    throughput = runs.live_throughput(progress.steps, job.config.batch_size) if job.active else None
    if throughput is None and len(progress.epochs):
        throughput = float(progress.epochs["samples_per_second"].mean())
    accuracy = progress.epochs["test_accuracy"].iloc[-1] if len(progress.epochs) else None
    column.caption(" · ".join(filter(None, [
        f"{throughput:,.0f} samples/s" if throughput else None,
        data.dataset_info(job.config.dataset).name, device_label(resolve_device(job.config.device)),
        f"test accuracy {accuracy:.2f}%" if accuracy is not None else None])))


def record_refresh(setting: float) -> float | None:
    """Seconds between the last redraws of the live view, as measured here (None before two)."""
    if st.session_state.get(REFRESH_TIMES + "_setting") != setting:  # a new setting: measure afresh
        st.session_state[REFRESH_TIMES + "_setting"], st.session_state[REFRESH_TIMES] = setting, []
    times = st.session_state.setdefault(REFRESH_TIMES, [])
    times.append(time.monotonic())
    del times[:-21]
    return (times[-1] - times[0]) / (len(times) - 1) if len(times) > 1 else None


def live_cards(polling: bool, every: float) -> None:
    full_run = st.session_state.pop(FULL_RUN, False)
    with user_errors("Could not draw the live view"):
        draw_cards(polling and not full_run, every, race_on=polling)


def draw_cards(polling: bool, every: float, race_on: bool = False) -> None:
    """The job cards, redrawn at the chosen interval. polling: one of the timed redraws (not the page's full run)."""
    jobs = race_jobs()
    columns = st.columns(len(jobs))
    for index, job in enumerate(jobs):
        job_card(columns[index], job, live_figures.job_colours(jobs)[index], runs.progress_tables(job.snapshot()))
    interval = record_refresh(every) if polling else None
    if interval:
        charts, parameters = chart_intervals(every)
        st.caption(f"Live view redrawn every {interval:.2f} s (measured over the last redraws); "
                   f"the charts every {charts:g} s, the parameters every {parameters:g} s.")
    # race_on: the race was running when this page run began. It can end before this point even in the
    # page's own full run (then no timed redraw may follow, and the results would never be drawn).
    if race_on and not any(job.active for job in jobs):
        st.rerun()  # the race just ended: one full run draws the results below and stops the polling


def chart_intervals(every: float) -> tuple[float, float]:
    """Seconds between redraws of the loss/accuracy chart and of the parameters chart: a chart redraw costs the
    browser a full Plotly render on top of a fragment run's fixed cost. Redrawn with the cards every 0.5 s, the
    live view took 0.4 of a core in the browser, a third of two trainings' throughput (scripts/ui_cost.py)."""
    return max(every, CHART_SECONDS), max(every, PARAMETER_SECONDS)


def live_charts() -> None:
    with user_errors("Could not draw the live charts"):
        jobs = race_jobs()
        progresses = [runs.progress_tables(job.snapshot()) for job in jobs]
        st.plotly_chart(live_figures.loss_and_accuracy_figure(jobs, progresses), key="train_loss_accuracy")
        test_size = data.dataset_info(jobs[0].config.dataset).test_size if jobs else 10_000
        st.caption("Accuracy lines: a fixed set of 1 000 test images, checked during the epoch. "
                   f"Diamonds: all {test_size:,} test images at the end of each epoch.".replace(",", " "))


def live_parameters() -> None:
    with user_errors("Could not draw the learnable parameters"):
        jobs = race_jobs()
        figure = live_figures.parameters_figure(jobs, [runs.progress_tables(job.snapshot()) for job in jobs])
        if figure is not None:
            st.markdown("**Learnable parameters of each layer** (paper Fig. 2b)")
            st.plotly_chart(figure, key="train_parameters")


if jobs:
    st.session_state[FULL_RUN] = True
    charts_every, parameters_every = chart_intervals(refresh_seconds)
    st.fragment(live_cards, run_every=refresh_seconds if racing else None)(racing, refresh_seconds)
    st.fragment(live_charts, run_every=charts_every if racing else None)()
    st.fragment(live_parameters, run_every=parameters_every if racing else None)()


# -- results ---------------------------------------------------------------------------------------
def results(job, color: str) -> None:
    st.markdown(f"<span style='color:{color};font-size:1.15em'>■</span> **{job.label}** · {job.status}",
                unsafe_allow_html=True)
    if job.status == "diverged":
        st.warning(f"{job.label} diverged: {job.message}. Try a smaller learning rate.")
    elif job.status == "failed":
        st.error(f"{job.label} failed: {job.message}")
    elif job.status == "stopped":
        st.info(f"{job.label}: {job.message}.")
    result = job.result
    save, download_checkpoint, download_csv = st.columns(3)
    download_csv.download_button("Metrics (CSV)", data=lambda: runs.metrics_csv(job.snapshot()),
                                 file_name=f"{job.config.activation}_metrics.csv", mime="text/csv",
                                 key=f"csv_{job.id}", on_click="ignore", icon=":material/table_view:")
    if result is None or result.steps == 0 or job.status == "diverged":
        return
    saved = st.session_state.setdefault(SAVED, {})
    if save.button("Save to runs/", key=f"save_{job.id}", icon=":material/save:", disabled=job.id in saved):
        with user_errors("Could not save the checkpoint"):
            saved[job.id] = str(runs.save_run_checkpoint(result, label=job.label))
    if job.id in saved:
        save.caption(f"Saved as `{saved[job.id]}`: the Explore and Feature maps pages list it.")
    download_checkpoint.download_button("Checkpoint (.pt)", data=lambda: runs.run_checkpoint_bytes(result, job.label),
                                        file_name=runs.checkpoint_filename(result), mime="application/octet-stream",
                                        key=f"ckpt_{job.id}", on_click="ignore", icon=":material/download:")
    info = activation_info(job.config.activation)
    if info.learnable and info.elementwise:
        with user_errors("Could not draw the learned curves"):
            x = explore.grid(4.0)
            layers = explore.learned_layer_curves(result.model, x)
            initial = explore.initial_curve(job.config.activation, job.config.activation_params, x)
            st.plotly_chart(charts.layer_curves_figure(x, layers, initial), key=f"learned_{job.id}")
            st.dataframe(explore.layer_parameters_table(layers), hide_index=True, width="content")


if jobs and not racing:
    st.subheader("Results")
    st.caption("Learned curve of each layer over the initial one (dashed), as in the paper's Fig. 2c.")
    for index, job in enumerate(jobs):
        with st.container(border=True), user_errors(f"Could not show the result of {job.label}"):
            results(job, live_figures.job_colours(jobs)[index])
