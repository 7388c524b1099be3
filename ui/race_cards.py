"""Train live's cards: one per training while a race runs (status, progress, why it waits, throughput) and
one per training once it ended (outcome, save and downloads, learned curves)."""
from __future__ import annotations

import streamlit as st

from arelu_core import activation_info, data, explore, runs
from arelu_core.trainer import device_label, resolve_device
from ui import charts
from ui.common import small_table, user_errors
from ui.race_state import SAVED
from ui.echarts import draw as draw_chart


def status_line(manager, job) -> str:
    if job.status == "queued":
        place = manager.queue_place(job)
        return f"queued, position {place}" if place else "queued"
    return job.status


def progress_text(job, last_step: int, total_steps: int) -> str:
    if last_step:
        return f"step {last_step} of {total_steps}"
    if job.ready_at is None:
        return "starting: a worker process loads the data"
    if job.waiting_for_race:
        return "data loaded: waiting for the race's other trainings, so that all start together"
    return "first step"


def job_card(column, manager, job, color: str, progress) -> None:
    column.markdown(f"<span style='color:{color};font-size:1.15em'>■</span> **{job.label}** · "
                    f"{status_line(manager, job)}", unsafe_allow_html=True)
    total_steps = runs.steps_per_epoch(job.config.train_subset, job.config.batch_size,
                                       job.config.dataset) * job.config.epochs
    if job.status == "queued":
        column.caption(f"Waiting for a free slot: {manager.max_running} trainings run at once on this server "
                       "(ARELU_MAX_JOBS), and a race's trainings start together.")
    if job.status == "running":
        column.progress(min(progress.last_step / total_steps, 1.0),
                        text=progress_text(job, progress.last_step, total_steps))
    throughput = runs.live_throughput(progress.steps, job.config.batch_size) if job.active else None
    if throughput is None and len(progress.epochs):
        throughput = float(progress.epochs["samples_per_second"].mean())
    accuracy = progress.epochs["test_accuracy"].iloc[-1] if len(progress.epochs) else None
    column.caption(" · ".join(filter(None, [
        f"{throughput:,.0f} samples/s" if throughput else None,
        data.dataset_info(job.config.dataset).name, device_label(resolve_device(job.config.device)),
        f"test accuracy {accuracy:.2f}%" if accuracy is not None else None])))


def result_card(job, color: str) -> None:
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
            x = explore.grid(4.0, points=401)
            layers = explore.learned_layer_curves(result.model, x)
            initial = explore.initial_curve(job.config.activation, job.config.activation_params, x)
            draw_chart(charts.layer_curves_figure(x, layers, initial), key=f"learned_{job.id}")
            small_table(explore.layer_parameters_table(layers), "{:.4f}")
