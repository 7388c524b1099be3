"""Reproduce the paper: the results of each experiment (our shipped full runs, your own, or an upload) with
our accuracy beside the paper's and the claims as the data say; a small version of a grid run live as a job
of the app's JobManager (it waits for a slot like a training, and stops when its tab closes)."""
from __future__ import annotations

import streamlit as st

from arelu_core.errors import AReLULabError
from arelu_core.reproduce import EXPERIMENT_NAMES, experiment_progress, get_experiment, reproduce_task, summarise
from arelu_core.reproduce.results import ResultsFile
from ui.common import get_job_manager, session_owner_id
from ui import reproduce_views as views
from ui.navigation import through_app

through_app()   # a deep link on a fresh server: run through app.py (ui/navigation.py)

JOB_KEY = "reproduce_job_id"

st.title("Reproduce the paper")
st.markdown("The paper's MNIST experiments, several models trained per computation. The full grids run from the "
            "command line (`arelu reproduce table1`); here you see their results, and can run a small version live.")

manager, owner = get_job_manager(), session_owner_id()
choices = EXPERIMENT_NAMES + tuple(views.RECORD_VIEWS)
if st.query_params.get("experiment") in choices:      # a link such as ?experiment=ablation (Explore's) picks one
    st.session_state["reproduce_experiment"] = st.query_params.pop("experiment")
experiment = st.selectbox("Experiment", choices, key="reproduce_experiment",
                          format_func=lambda n: views.RECORD_VIEWS[n][0] if n in views.RECORD_VIEWS else get_experiment(n).title)
spec = None if experiment in views.RECORD_VIEWS else get_experiment(experiment)
if spec is not None and spec.note:
    st.caption(spec.note)
title = views.RECORD_VIEWS[experiment][0] if spec is None else spec.title
tab_results, tab_run = st.tabs(["Results", "Run a small version"])

with tab_results:
    found = views.results_files(experiment)
    source = st.radio("Source", ["A results file on this machine", "Upload a runs.jsonl"], horizontal=True,
                      key=f"reproduce_source_{experiment}")
    loaded, folder = None, None
    if source.startswith("Upload"):
        upload = st.file_uploader("runs.jsonl from `arelu reproduce`", type=["jsonl", "json", "txt"])
        if upload is not None:
            loaded = views.load_records(upload.getvalue(), upload.name)
    elif not found:
        st.info(f"No {title.split(':')[0]} results on this machine yet: run `arelu reproduce {experiment}` "
                f"(or a small version here).")
    else:
        path = st.selectbox("Results file", found, format_func=views.results_label, key=f"reproduce_file_{experiment}")
        if path.is_relative_to(views.SHIPPED_ROOT):
            st.caption("Shipped with AReLU Lab: our own runs on the real data, made with `arelu reproduce`; the label "
                       "says whether a file is the full grid (commands, machines and times in `assets/results/README.md`).")
        try:
            loaded, folder = views.load_records(path.read_bytes(), str(path)), path.parent
        except OSError as exc:
            st.error(f"cannot read {path}: {exc.strerror or exc}")
    if loaded:
        name, records = loaded
        if name in views.RECORD_VIEWS:         # its own summary and view (Fig. 4's deep networks)
            views.RECORD_VIEWS[name][1](records, "load")
        elif name not in EXPERIMENT_NAMES:
            st.error(f"these runs belong to an unknown experiment {name!r}")
        else:
            if name != experiment:
                st.caption(f"This file holds {get_experiment(name).title} runs.")
            views.show(summarise(name, records, views.baseline_for(name, folder)), records, "load")


def current_job():
    job_id = st.session_state.get(JOB_KEY)
    return manager.get(owner, job_id) if isinstance(job_id, str) else None


def stop_job() -> None:
    job = current_job()
    if job is not None:
        manager.stop(owner, job.id)


with tab_run:
    job = current_job()
    busy = job is not None and job.active
    if spec is None:
        st.info(f"{title.split(':')[0]} runs from the command line (`arelu reproduce {experiment}`, on a GPU or a Ray "
                f"cluster), not here.")
    elif not busy:
        grid = views.FORMS.get(experiment, views.grid_form)(spec)
        if grid is not None:
            try:
                task = reproduce_task(experiment, out=views.APP_OUT / experiment, device="auto", **grid)
                job = manager.submit_task(owner, task, label=title)
            except AReLULabError as exc:
                st.error(f"Could not start: {exc}")
            else:
                st.session_state[JOB_KEY] = job.id
                st.rerun()

    @st.fragment(run_every=1.0 if busy else None)
    def live():
        current = current_job()
        if current is None:
            st.caption(f"Results of small runs go to {views.APP_OUT}/<experiment>/ and are reused when you start "
                       f"again. A run takes one of the app's {manager.max_running} job slots, as a training does.")
            return
        title = current.label
        if current.status == "queued":
            st.info(f"{title}: waiting for a free slot, position {manager.queue_position(current) or 1} in the queue "
                    f"({manager.max_running} jobs run at once, trainings on Train live included).")
            st.button("Cancel", on_click=stop_job)
            return
        if current.status == "running":
            progress = experiment_progress(current.snapshot())
            st.progress(progress["fraction"], text=f"{title}: group {progress['group'] + 1} of "
                                                   f"{max(progress['groups'], 1)}, step {progress['step']}/{progress['total']}")
            st.button("Stop", on_click=stop_job)
            if progress["records"]:
                st.write(f"{len(progress['records'])} runs finished so far: " + ", ".join(
                    f"{views.name(r['activation'])} {r['optimizer']} {r['lr']:g} → {r['accuracy'][-1]:.1f}%"
                    for r in progress["records"][-6:] if r["accuracy"]))
            return
        if busy:        # finished since the last full run: redraw the page without the timer
            st.rerun()
        result = current.result
        if not isinstance(result, dict):      # failed, or cancelled before it started
            (st.info if current.status == "stopped" else st.error)(current.message or f"{title} ended without a result")
            return
        kwargs = current.task.kwargs
        if current.status == "stopped":
            st.info(f"{title}: {current.message or 'stopped'}. The {result['finished']} finished runs are kept in "
                    f"{result['results_file']}: start again to continue where it stopped.")
        st.write(f"{title}: {result['finished']} of {result['requested']} runs "
                 f"({result['skipped']} reused from earlier), {result['seconds_this_call']:.0f} s.")
        try:   # the per-run records, for Fig. 2's trajectories
            records = ResultsFile(result["results_file"], kwargs["experiment"]).read()
        except AReLULabError as exc:
            st.error(str(exc))
            return
        same = [r for r in records if r.get("train_subset") == kwargs["train_subset"] and r.get("epochs") == kwargs["epochs"]
                and all(r.get(k) == kwargs[k] for k in ("source", "target") if k in kwargs)]
        views.show(result, same, "live")

    live()
