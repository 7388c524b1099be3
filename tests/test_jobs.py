"""JobManager: real short trainings in background threads and worker processes, queueing, stop, owner
isolation, divergence, failures as statuses (never exceptions), pruning; and the run helpers the Train
live page uses."""
import multiprocessing
import os
import signal

import pytest

from arelu_core.checkpoint import load_checkpoint
from arelu_core.errors import ConfigError
from arelu_core.jobs import JobManager, max_running_from_env
from arelu_core.runs import (find_checkpoints, live_report_intervals, metrics_frame, progress_tables,
                             run_checkpoint_bytes, save_run_checkpoint)
from arelu_core.trainer import TrainConfig

WAIT = 240  # seconds; generous because the test machine is shared


def quick(activation="arelu", **overrides) -> TrainConfig:
    settings = dict(activation=activation, train_subset=512, test_subset=500, batch_size=128, lr=1e-2,
                    live_eval_every=2, live_eval_size=200, params_every=1, device="cpu")
    return TrainConfig(**{**settings, **overrides})


def long(activation="relu") -> TrainConfig:
    """Long enough that it is certainly still running when the test looks (it gets stopped)."""
    return quick(activation, train_subset=None, epochs=20, live_eval_every=0)


def wait_for_steps(job, steps=1):
    import time
    deadline = time.monotonic() + WAIT
    while sum(e["kind"] == "step" for e in job.snapshot()) < steps:
        assert job.active, job.message
        assert time.monotonic() < deadline, "the training never made a step"
        time.sleep(0.05)


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_short_training_finishes_with_events_and_result(data_dir, isolation):
    manager = JobManager(max_running=2, isolation=isolation)
    job = manager.submit("alice", quick())
    assert manager.wait([job], WAIT)
    assert job.status == "finished", job.message
    kinds = [event["kind"] for event in job.snapshot()]
    assert kinds.count("step") == 4 and kinds.count("epoch") == 1 and kinds[-1] == "end"
    assert "live_eval" in kinds and "params" in kinds
    assert all("time" in event for event in job.snapshot())
    assert job.result.steps == 4 and job.result.test_accuracy is not None
    progress = progress_tables(job.snapshot())
    assert len(progress.steps) == 4 and len(progress.epochs) == 1
    assert set(progress.params["param"]) == {"alpha", "beta"} and set(progress.params["layer"]) == {1, 2, 3}
    table = metrics_frame(job.snapshot())
    assert {"loss", "live_accuracy", "test_accuracy", "layer1_alpha", "layer3_beta"} <= set(table.columns)


def test_queue_is_fifo_with_positions_and_a_queued_job_can_be_stopped(data_dir):
    manager = JobManager(max_running=1)
    first = manager.submit("alice", long())
    second = manager.submit("alice", quick("relu"))
    third = manager.submit("bob", quick("arelu"))
    assert first.status == "running" and manager.running_count() == 1
    assert (second.status, manager.queue_position(second)) == ("queued", 1)
    assert (third.status, manager.queue_position(third)) == ("queued", 2)
    assert manager.stop("alice", second.id)
    assert second.status == "stopped" and second.result is None and manager.queue_position(third) == 1
    wait_for_steps(first)
    manager.stop("alice", first.id)
    assert manager.wait([first, third], WAIT)
    assert first.status == "stopped" and third.status == "finished", third.message
    assert third.started_at >= first.finished_at  # it only started once the slot was free


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_stop_is_cooperative_and_keeps_the_partial_result(data_dir, isolation):
    manager = JobManager(max_running=2, isolation=isolation)
    job = manager.submit("alice", long("arelu"))
    wait_for_steps(job, 2)
    assert manager.stop("alice", job.id)
    assert manager.wait([job], WAIT)
    assert job.status == "stopped" and "stopped" in job.message
    assert job.result is not None and job.result.steps >= 2
    assert not manager.stop("alice", job.id)  # already done: nothing to stop


def test_owners_never_see_each_others_jobs(data_dir):
    manager = JobManager(max_running=2)
    mine = manager.submit("alice", quick())
    theirs = manager.submit("bob", quick("relu"))
    assert manager.jobs("alice") == [mine] and manager.jobs("bob") == [theirs]
    assert manager.get("alice", theirs.id) is None and manager.get("bob", theirs.id) is theirs
    assert not manager.stop("alice", theirs.id)
    assert manager.wait([mine, theirs], WAIT)
    assert theirs.status == "finished"
    assert manager.jobs("carol") == []


@pytest.mark.parametrize("isolation", ["thread", "process"])
def test_diverging_training_is_a_status_with_a_message(data_dir, isolation):
    manager = JobManager(max_running=1, isolation=isolation)
    job = manager.submit("alice", quick(lr=1e3))
    assert manager.wait([job], WAIT)
    assert job.status == "diverged"
    assert "loss became" in job.message and "learning rate" in job.message


def test_missing_data_fails_the_job_with_the_library_message(tmp_path, monkeypatch):
    # An empty folder and no way out: no exception escapes the thread, the job says what is missing.
    monkeypatch.setattr("arelu_core.data.download_mnist", lambda *a, **k: (_ for _ in ()).throw(OSError("offline")))
    manager = JobManager(max_running=1)
    job = manager.submit("alice", quick(data_dir=str(tmp_path)))
    assert manager.wait([job], WAIT)
    assert job.status == "failed" and "MNIST not found" in job.message and "\n" not in job.message


def test_bad_config_is_refused_at_submit():
    manager = JobManager(max_running=1)
    with pytest.raises(ConfigError):
        manager.submit("alice", quick("no-such-activation"))
    with pytest.raises(ConfigError):
        manager.submit("alice", quick(lr=-1))
    assert manager.jobs("alice") == []


def test_finished_jobs_are_pruned_oldest_first(data_dir):
    manager = JobManager(max_running=1, keep_finished=3, keep_finished_per_owner=2)
    alice = [manager.submit("alice", quick("relu", train_subset=128)) for _ in range(3)]
    bob = [manager.submit("bob", quick("relu", train_subset=128)) for _ in range(2)]
    assert manager.wait(alice + bob, WAIT)
    # alice's first went when her third finished (2 per owner); her second when bob's last made 4 (3 in all).
    assert manager.jobs("alice") == alice[2:]
    assert manager.jobs("bob") == bob


def test_max_running_from_env(monkeypatch):
    monkeypatch.delenv("ARELU_MAX_JOBS", raising=False)
    assert max_running_from_env() == 2
    monkeypatch.setenv("ARELU_MAX_JOBS", "3")
    assert JobManager().max_running == 3
    monkeypatch.setenv("ARELU_MAX_JOBS", "zero")
    with pytest.raises(ConfigError):
        JobManager()


def test_finished_run_saves_a_loadable_checkpoint(data_dir, tmp_path, monkeypatch):
    monkeypatch.setenv("ARELU_RUNS_DIR", str(tmp_path / "runs"))
    manager = JobManager(max_running=1)
    job = manager.submit("alice", quick(activation_params={"alpha": 0.25, "beta": 1.0}))
    assert manager.wait([job], WAIT)
    path = save_run_checkpoint(job.result, label="AReLU")
    assert path.parent == tmp_path / "runs" and path.suffix == ".pt"
    model, meta = load_checkpoint(path)
    assert meta["activation_params"] == {"alpha": 0.25, "beta": 1.0}
    assert meta["status"] == "finished" and meta["train_config"]["train_subset"] == 512
    assert model.activation_parameters() == job.result.model.activation_parameters()
    assert run_checkpoint_bytes(job.result)[:2] == b"PK"  # torch's zip format
    entries = find_checkpoints(models_dir=tmp_path / "no-models")
    assert [(e.path, e.source, e.activation) for e in entries] == [(path, "saved", "arelu")]


def test_checkpoint_listing_reads_the_manifest_and_survives_a_bad_one(tmp_path):
    models, saved = tmp_path / "models", tmp_path / "runs"
    models.mkdir()
    for name in ("b.pt", "a.pt", "extra.pt"):
        (models / name).write_bytes(b"")
    (models / "manifest.json").write_text('{"models": [{"file": "b.pt", "title": "B model"}, {"file": "gone.pt"},'
                                          ' {"file": "a.pt", "description": "first"}]}')
    entries = find_checkpoints(models, saved)
    assert [(e.title, e.source) for e in entries] == [("B model", "shipped"), ("a", "shipped"), ("extra", "shipped")]
    # scripts/make_checkpoints.py's form: {"models": {name: entry}}
    (models / "manifest.json").write_text('{"models": {"arelu": {"file": "a.pt", "activation": "arelu", '
                                          '"test_accuracy": 97.5}}, "recipe": {}}')
    first = find_checkpoints(models, saved)[0]
    assert (first.title, first.activation, first.test_accuracy, first.path.name) == ("arelu", "arelu", 97.5, "a.pt")
    (models / "manifest.json").write_text("{not json")
    assert [e.title for e in find_checkpoints(models, saved)] == ["a", "b", "extra"]


def test_live_report_intervals_suit_demos_and_full_epochs():
    assert live_report_intervals(512, 128) == (1, 1)           # 4 steps: report every step
    assert live_report_intervals(None, 128) == (46, 9)         # 469 steps: ~10 checks, ~50 samples
    assert live_report_intervals(None, 32) == (50, 10)


# -- worker processes (the app's isolation) ------------------------------------------------------------
def test_a_worker_process_result_is_the_same_training_and_leaves_no_process(data_dir, tmp_path, monkeypatch):
    """Same seed, same config: the worker's training matches the in-thread one (up to the summation order
    of a different thread count), the model crosses the process boundary intact, no worker outlives its job."""
    monkeypatch.setenv("ARELU_RUNS_DIR", str(tmp_path / "runs"))
    config = quick(activation_params={"alpha": 0.3, "beta": 0.5})
    threads, workers = JobManager(max_running=1), JobManager(max_running=1, isolation="process")
    in_thread, in_worker = threads.submit("alice", config), workers.submit("alice", config)
    assert workers.wait([in_worker], WAIT) and threads.wait([in_thread], WAIT)
    assert in_worker.status == in_thread.status == "finished", in_worker.message
    assert in_worker.result.losses == pytest.approx(in_thread.result.losses, rel=1e-4)
    for worker_layer, thread_layer in zip(in_worker.result.model.activation_parameters(),
                                          in_thread.result.model.activation_parameters()):
        assert worker_layer == pytest.approx(thread_layer, rel=1e-4)
    assert [e["kind"] for e in in_worker.snapshot()] == [e["kind"] for e in in_thread.snapshot()]
    model, meta = load_checkpoint(save_run_checkpoint(in_worker.result, label="AReLU"))
    assert meta["status"] == "finished" and model.activation_parameters() == in_worker.result.model.activation_parameters()
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("arelu-worker-")]


def test_a_killed_worker_fails_the_job_with_a_message_and_frees_the_slot(data_dir):
    manager = JobManager(max_running=1, isolation="process")
    doomed = manager.submit("alice", long())
    waiting = manager.submit("alice", quick("relu"))
    wait_for_steps(doomed)
    [worker] = [p for p in multiprocessing.active_children() if p.name == f"arelu-worker-{doomed.id}"]
    os.kill(worker.pid, signal.SIGKILL)     # as the kernel's OOM killer would
    assert manager.wait([doomed, waiting], WAIT)
    assert doomed.status == "failed" and "exit code -9" in doomed.message and "\n" not in doomed.message
    assert waiting.status == "finished", waiting.message


def test_a_worker_error_becomes_the_job_message(data_dir):
    # The worker raises the library's own error (a checkpoint-free config it cannot train): one line, no traceback.
    manager = JobManager(max_running=1, isolation="process")
    job = manager.submit("alice", quick(data_dir=os.devnull))   # a file, not a folder: no MNIST there
    assert manager.wait([job], WAIT)
    assert job.status == "failed" and "MNIST" in job.message and "\n" not in job.message, job.message


def test_workers_share_the_cores_and_take_them_back(data_dir, monkeypatch):
    from arelu_core.jobs import worker
    monkeypatch.setattr(worker, "cpu_cores", lambda: 8)    # threads_per_training reads it from its module
    assert [worker.threads_per_training(n) for n in (0, 1, 2, 3, 4, 8)] == [4, 4, 2, 2, 1, 1]
    manager = JobManager(max_running=2, isolation="process")
    first = manager.submit("alice", long())
    wait_for_steps(first)
    assert [t.value for t in manager._worker_threads.values()] == [4]
    second = manager.submit("alice", long("arelu"))
    wait_for_steps(second)
    assert [t.value for t in manager._worker_threads.values()] == [2, 2]
    manager.stop("alice", second.id)
    assert manager.wait([second], WAIT)
    assert [t.value for t in manager._worker_threads.values()] == [4]   # the one left takes the cores back
    manager.stop("alice", first.id)
    assert manager.wait([first], WAIT) and first.status == "stopped"


def test_unknown_isolation_is_refused():
    with pytest.raises(ConfigError, match="isolation"):
        JobManager(isolation="fiber")


# -- any task, not only trainings: the Reproduce page's grids share the slots, the queue and the reaping ---------
def counting(emit, should_stop, n, fail_at=None):
    """A task as the JobManager runs it: events through emit, should_stop polled, a result returned."""
    import time
    for i in range(n):
        if should_stop():
            return {"counted": i}
        if i == fail_at:
            raise ValueError(f"no {i}\nsecond line")
        emit({"kind": "count", "i": i})
        time.sleep(0.01)
    return {"counted": n}


def test_any_task_runs_as_a_job_with_events_result_stop_and_one_line_failures():
    from arelu_core.jobs import Task
    manager = JobManager(max_running=1)
    done = manager.submit_task("alice", Task(counting, {"n": 5}, kind="count"), label="count to 5")
    endless = manager.submit_task("alice", Task(counting, {"n": 10**9}, kind="count"), label="count forever")
    broken = manager.submit_task("alice", Task(counting, {"n": 9, "fail_at": 3}, kind="count"), label="broken")
    assert (endless.status, manager.queue_position(endless), manager.queue_position(broken)) == ("queued", 1, 2)
    assert manager.wait([done], WAIT) and done.status == "finished" and done.result == {"counted": 5}
    assert [e["i"] for e in done.snapshot()] == [0, 1, 2, 3, 4] and done.config is None and done.kind == "count"
    while not endless.snapshot():
        assert endless.active
    manager.stop("alice", endless.id)
    assert manager.wait([endless, broken], WAIT)
    assert endless.status == "stopped" and endless.result["counted"] >= 1
    assert broken.status == "failed" and broken.message == "count failed unexpectedly: ValueError: no 3"


def reproduce_grid(out, data_dir, **overrides):
    from arelu_core.reproduce import reproduce_task
    grid = dict(activations=["relu", "tanh", "sigmoid", "arelu"], optimizers=["sgd"], lrs=[1e-2], seeds=[0, 1, 2, 3, 4],
                train_subset=1024, group_size=1, out=out, data_dir=data_dir, device="cpu")
    return reproduce_task("table1", **{**grid, **overrides})


def test_a_reproduction_of_a_vanished_owner_stops_and_keeps_its_finished_runs(data_dir, tmp_path):
    """In a worker process, as in the app: the tab closes mid-grid, the grid stops after its current group,
    every run it reported is in runs.jsonl (and nothing else), and a rerun resumes from there."""
    from arelu_core.reproduce import run_experiment
    from arelu_core.reproduce.results import ResultsFile
    import time
    alive = {"tab"}
    manager = JobManager(max_running=1, owner_timeout=0.3, is_owner_alive=lambda owner: owner in alive,
                         isolation="process")
    job = manager.submit_task("tab", reproduce_grid(tmp_path, data_dir), label="Table 1")
    deadline = time.monotonic() + WAIT
    while not any(e["kind"] == "run" for e in job.snapshot()):
        assert job.active and time.monotonic() < deadline, job.message
        time.sleep(0.05)
    alive.clear()                                   # the tab closes
    assert manager.wait([job], WAIT)
    assert job.status == "stopped" and "session ended" in job.message, job.message
    reported = [e["record"]["key"] for e in job.snapshot() if e["kind"] == "run"]
    on_disk = [r["key"] for r in ResultsFile(tmp_path / "runs.jsonl", "table1").read()]
    assert on_disk == reported and 1 <= len(on_disk) < 20
    assert job.result["status"] == "partial" and job.result["finished"] == len(on_disk)
    assert not [p for p in multiprocessing.active_children() if p.name.startswith("arelu-worker-")]
    again = run_experiment("table1", activations=["relu"], optimizers=["sgd"], lrs=[1e-2], seeds=[0],
                           train_subset=1024, out=tmp_path, data_dir=data_dir, device="cpu")
    assert again["trained_now"] == 0 and again["skipped"] == 1     # relu seed 0 ran first: resumed, not redone


def test_a_reproduce_page_run_waits_behind_two_trainings_and_says_so(data_dir, tmp_path, monkeypatch):
    """ARELU_MAX_JOBS=2 and two trainings running: Start on the Reproduce page queues the grid (the page says
    so); it runs once a slot is free, and a stop keeps the runs it finished in its runs.jsonl."""
    from streamlit.testing.v1 import AppTest
    from arelu_core.reproduce.results import ResultsFile
    from ui.common import get_job_manager
    import time
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    monkeypatch.setenv("ARELU_MAX_JOBS", "2")
    monkeypatch.chdir(tmp_path)
    get_job_manager.clear()                        # the app's manager, made afresh under this setting
    at = AppTest.from_file(os.path.join(root, "pages", "reproduce.py"), default_timeout=60).run()
    manager, owner = get_job_manager(), at.session_state["arelu_owner_id"]
    assert manager.max_running == 2
    trainings = [manager.submit(owner, long(name)) for name in ("relu", "arelu")]
    at.multiselect[0].set_value(["relu", "tanh", "sigmoid"])
    at.button[0].click().run()                     # Start
    grid = manager.get(owner, at.session_state["reproduce_job_id"])
    assert grid.status == "queued" and manager.queue_position(grid) == 1
    assert any("waiting for a free slot, position 1 in the queue" in info.value for info in at.info), \
        [info.value for info in at.info]
    manager.stop(owner, trainings[0].id)
    deadline = time.monotonic() + WAIT
    while not any(e["kind"] == "run" for e in grid.snapshot()):
        assert grid.active and time.monotonic() < deadline, grid.message
        time.sleep(0.1)
    assert grid.status == "running" and trainings[1].status == "running"
    at.run()
    assert any(bar.proto.text.startswith("Table 1") for bar in at.get("progress"))
    manager.stop(owner, grid.id)
    manager.stop(owner, trainings[1].id)
    assert manager.wait([grid, *trainings], WAIT)
    assert grid.status == "stopped" and grid.result["status"] == "partial"
    reported = [e["record"]["key"] for e in grid.snapshot() if e["kind"] == "run"]
    on_disk = [r["key"] for r in ResultsFile(tmp_path / "results" / "app" / "table1" / "runs.jsonl", "table1").read()]
    assert on_disk == reported and len(on_disk) >= 1
    at.run()
    assert not at.exception and not at.error
    assert any(f"The {len(on_disk)} finished runs are kept in" in info.value for info in at.info)
