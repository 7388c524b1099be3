"""Faults a classroom server meets, and what must survive them.

- An owner that vanishes mid-training (a closed browser tab): its running job is cancelled, its queued
  jobs are dropped, its finished jobs are forgotten; after many such cycles no training thread is left.
  The same through the real app: a tab closed mid-race frees its slot for the next session.
- The server killed (SIGKILL) while it saves a checkpoint: the previous file still loads and no partial
  file ever appears under the final name.
- A full disk (ENOSPC) and a folder that cannot be written: a one-line CheckpointError, nothing half-written,
  the previous checkpoint untouched; the Train live page shows the error instead of a traceback.
- A diverging run (NaN loss) ends cleanly with status "diverged".
- Many sessions using the activation registry for the first time at once all see all of it.
- A server killed outright (SIGKILL) leaves no training worker process behind.

A closed browser tab through the real app is test_browser_faults.py.
"""
from __future__ import annotations

import ast
import errno
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
import torch

from arelu_core import checkpoint as checkpoint_module
from arelu_core.checkpoint import load_checkpoint, save_checkpoint
from arelu_core.errors import CheckpointError
from arelu_core.jobs import JobManager, owner_timeout_from_env
from arelu_core.network import MNISTConv
from arelu_core.runs import find_checkpoints, save_run_checkpoint
from arelu_core.trainer import TrainConfig, train

REPO = Path(__file__).resolve().parents[1]
WAIT = 120  # seconds; the test machine is shared


def quick(**overrides) -> TrainConfig:
    settings = dict(activation="relu", train_subset=256, test_subset=200, batch_size=128, lr=1e-2,
                    live_eval_every=0, params_every=0, device="cpu")
    return TrainConfig(**{**settings, **overrides})


def endless(**overrides) -> TrainConfig:
    """Runs for many minutes unless stopped: small steps, so a stop lands fast and costs little CPU."""
    return quick(train_subset=None, epochs=20, batch_size=16, **overrides)


def job_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("arelu-job-")]


def wait_for(predicate, timeout=WAIT, poll=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(poll)


# --------------------------------------------------------------------------- vanished owners

def test_vanished_owners_are_cancelled_cleaned_up_and_leave_no_thread(data_dir):
    alive: set[str] = set()
    manager = JobManager(max_running=2, owner_timeout=0.3, is_owner_alive=lambda owner: owner in alive)
    threads_before = threading.active_count()
    cycles = 4
    for cycle in range(cycles):
        owners = [f"tab-{cycle}-a", f"tab-{cycle}-b", f"tab-{cycle}-c"]
        alive.update(owners)
        running = [manager.submit(owner, endless()) for owner in owners[:2]]
        queued = manager.submit(owners[2], endless())
        assert queued.status == "queued" and manager.queue_position(queued) == 1
        wait_for(lambda: all(any(e["kind"] == "step" for e in job.snapshot()) for job in running), what="first steps")
        alive.difference_update(owners)          # the three tabs close
        assert manager.wait(running + [queued], WAIT), [job.status for job in running + [queued]]
        for job in running:
            assert job.status == "stopped" and "session ended" in job.message, job.message
            assert job.result is not None and job.result.steps >= 1
        assert queued.status == "stopped" and queued.result is None and queued.started_at is None
        assert "session ended" in queued.message
        wait_for(lambda: not job_threads(), timeout=30, what="the job threads to end")
        # cleaned up: the manager holds nothing of theirs any more
        assert not any(manager._jobs.get(job.id) for job in running + [queued])
        assert not set(owners) & set(manager._last_seen)
    assert manager.running_count() == 0 and not manager._jobs and not manager._queue
    assert threading.active_count() <= threads_before
    print(f"\n{cycles} cycles, {cycles * 3} jobs of vanished owners cancelled; "
          f"threads before {threads_before}, after {threading.active_count()}")


def test_a_present_owner_keeps_its_jobs_and_a_reconnect_within_the_timeout_is_no_loss(data_dir):
    alive = {"here"}
    manager = JobManager(max_running=2, owner_timeout=30, is_owner_alive=lambda owner: owner in alive)
    kept = manager.submit("here", quick())
    blip = manager.submit("blip", quick(activation="arelu"))  # not alive, but seen just now (submit): within the timeout
    assert manager.wait([kept, blip], WAIT)
    assert kept.status == blip.status == "finished", (kept.message, blip.message)
    assert manager.jobs("here") == [kept] and manager.jobs("blip") == [blip]


def test_a_broken_liveness_check_never_cancels_anything(data_dir):
    def broken(owner):
        raise RuntimeError("no runtime")

    manager = JobManager(max_running=1, owner_timeout=0.0, is_owner_alive=broken)
    job = manager.submit("alice", quick())
    assert manager.wait([job], WAIT) and job.status == "finished", job.message


def test_without_a_timeout_owners_never_expire(data_dir):
    manager = JobManager(max_running=1)               # the library default: scripts and the CLI
    job = manager.submit("script", quick())
    time.sleep(0.2)
    assert manager.reap() == [] and manager.wait([job], WAIT) and job.status == "finished"


def test_session_timeout_from_env(monkeypatch):
    monkeypatch.delenv("ARELU_SESSION_TIMEOUT", raising=False)
    assert owner_timeout_from_env() == 120.0
    monkeypatch.setenv("ARELU_SESSION_TIMEOUT", "2.5")
    assert owner_timeout_from_env() == 2.5
    for bad in ("-1", "soon", "nan", "inf"):
        monkeypatch.setenv("ARELU_SESSION_TIMEOUT", bad)
        with pytest.raises(Exception, match="ARELU_SESSION_TIMEOUT"):
            owner_timeout_from_env()


# --------------------------------------------------------------------------- killed mid-save

SAVER = textwrap.dedent("""
    import sys, time, torch
    from arelu_core import checkpoint
    from arelu_core.network import MNISTConv
    path, mode = sys.argv[1], sys.argv[2]
    real_fsync, real_replace = checkpoint.os.fsync, checkpoint.os.replace
    model = MNISTConv("arelu")
    checkpoint.save_checkpoint(path, model, {"round": 0})
    print("saved 0", flush=True)
    if mode == "mid-write":          # the first half of the bytes are in the temporary file, then we stall
        class Slow:
            def __init__(self, f): self.f = f
            def write(self, data):
                data = bytes(data)
                self.f.write(data[: len(data) // 2]); self.f.flush()
                print("mid-write", flush=True); time.sleep(60)
            def __getattr__(self, name): return getattr(self.f, name)
        real_fdopen = checkpoint.os.fdopen
        class Wrapped:
            def __init__(self, *a, **k): self.inner = real_fdopen(*a, **k)
            def __enter__(self): return Slow(self.inner.__enter__())
            def __exit__(self, *exc): return self.inner.__exit__(*exc)
        checkpoint.os.fdopen = Wrapped
    elif mode == "before-rename":    # everything written and synced, the rename not yet done
        def stall(*args):
            print("before-rename", flush=True); time.sleep(60)
        checkpoint.os.replace = stall
    round = 1
    while True:                     # "loop": save as fast as possible until killed
        with torch.no_grad():
            model.blocks[0].conv.weight.add_(1.0)
        checkpoint.save_checkpoint(path, model, {"round": round})
        print(f"saved {round}", flush=True)
        round += 1
""")


def run_saver_and_kill(tmp_path: Path, mode: str, wait_for_line: str | None, after_seconds: float = 0.0):
    target = tmp_path / "runs" / "model.pt"
    script = tmp_path / "saver.py"
    script.write_text(SAVER)
    proc = subprocess.Popen([sys.executable, str(script), str(target), mode], stdout=subprocess.PIPE, text=True,
                            cwd=REPO, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    lines = []
    try:
        deadline = time.monotonic() + WAIT
        while True:
            line = proc.stdout.readline().strip()
            assert line or proc.poll() is None, f"the saver died: {lines}"
            lines.append(line)
            if (wait_for_line and line == wait_for_line) or (not wait_for_line and line == "saved 3"):
                break
            assert time.monotonic() < deadline, lines
        time.sleep(after_seconds)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        lines += [line.strip() for line in proc.stdout.read().splitlines()]
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    saved_rounds = [int(line.split()[1]) for line in lines if line.startswith("saved ")]
    return target, saved_rounds


@pytest.mark.parametrize("mode, line, delay", [("mid-write", "mid-write", 0.0),
                                               ("before-rename", "before-rename", 0.0),
                                               ("loop", None, 0.013)])
def test_killed_mid_save_keeps_the_previous_checkpoint(tmp_path, mode, line, delay):
    target, rounds = run_saver_and_kill(tmp_path, mode, line, delay)
    model, meta = load_checkpoint(target)            # the final name always holds a complete checkpoint
    assert isinstance(model, MNISTConv)
    if mode == "loop":
        # the kill lands anywhere: the file is the last save that finished, or the one after it
        assert meta["round"] in (rounds[-1], rounds[-1] + 1), (meta["round"], rounds[-3:])
    else:
        assert meta["round"] == 0 and rounds == [0]   # the interrupted save never became visible
    leftovers = [p.name for p in target.parent.iterdir() if p.name != target.name]
    assert all(name.startswith(".model.pt.") and name.endswith(".tmp") for name in leftovers), leftovers
    if mode == "mid-write":
        assert leftovers, "the kill should have left the half-written temporary file behind"
    # a leftover temporary file is never offered as a checkpoint
    listed = [entry.path.name for entry in find_checkpoints(models_dir=tmp_path / "none", saved_dir=target.parent)]
    assert listed == ["model.pt"]


# --------------------------------------------------------------------------- disk full, read-only folder

@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MNISTConv("arelu")


def assert_one_line(exc: BaseException, *fragments: str) -> None:
    message = str(exc)
    assert "\n" not in message and len(message) < 300, message
    for fragment in fragments:
        assert fragment in message, message


def only_files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


class _FillsUp:
    """A file object whose disk fills up after `room` bytes."""

    def __init__(self, inner, room: int):
        self.inner, self.room = inner, room

    def write(self, data):
        data = bytes(data)
        if len(data) > self.room:
            self.inner.write(data[: self.room])
            self.inner.flush()
            self.room = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self.room -= len(data)
        return self.inner.write(data)

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.inner.close()


@pytest.mark.parametrize("room", [0, 100, 20_000])
def test_disk_full_is_a_clear_error_and_the_old_checkpoint_survives(tmp_path, model, monkeypatch, room):
    target = tmp_path / "runs" / "model.pt"
    save_checkpoint(target, model, {"round": 0})
    before = target.read_bytes()
    real_fdopen = os.fdopen
    monkeypatch.setattr(checkpoint_module.os, "fdopen", lambda fd, mode: _FillsUp(real_fdopen(fd, mode), room))
    with pytest.raises(CheckpointError) as caught:
        save_checkpoint(target, model, {"round": 1})
    assert_one_line(caught.value, str(target), "No space left on device")
    assert only_files(target.parent) == ["model.pt"]        # the partial temporary file is gone
    assert target.read_bytes() == before and load_checkpoint(target)[1]["round"] == 0


def test_disk_full_at_fsync_is_a_clear_error(tmp_path, model, monkeypatch):
    target = tmp_path / "runs" / "model.pt"

    def full(fd):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint_module.os, "fsync", full)
    with pytest.raises(CheckpointError) as caught:
        save_checkpoint(target, model)
    assert_one_line(caught.value, "No space left on device")
    assert only_files(target.parent) == []


def test_a_real_full_device_is_a_clear_error(tmp_path, model, monkeypatch):
    """/dev/full answers every write with ENOSPC, as a real full disk does."""
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full on this system")
    target = tmp_path / "runs" / "model.pt"
    real_fdopen = os.fdopen

    def onto_dev_full(fd, mode):
        full = os.open("/dev/full", os.O_WRONLY)
        os.dup2(full, fd)                    # the temporary file's descriptor now writes to /dev/full
        os.close(full)
        return real_fdopen(fd, mode)

    monkeypatch.setattr(checkpoint_module.os, "fdopen", onto_dev_full)
    with pytest.raises(CheckpointError) as caught:
        save_checkpoint(target, model)
    assert_one_line(caught.value, "No space left on device")
    assert only_files(target.parent) == []


def test_runs_dir_that_cannot_be_written(tmp_path, model, monkeypatch):
    # A path below a regular file can never be created, even by root (who ignores chmod).
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(CheckpointError) as caught:
        save_checkpoint(blocker / "runs" / "model.pt", model)
    assert_one_line(caught.value, "cannot write checkpoint", "Not a directory")
    # Permission denied where the temporary file is created (what chmod 0o500 does to a normal user).
    folder = tmp_path / "runs"
    folder.mkdir()

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))

    monkeypatch.setattr(checkpoint_module.tempfile, "mkstemp", denied)
    with pytest.raises(CheckpointError) as caught:
        save_checkpoint(folder / "model.pt", model)
    assert_one_line(caught.value, "Permission denied")
    assert only_files(folder) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_runs_dir_with_chmod(tmp_path, model):
    folder = tmp_path / "runs"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(CheckpointError) as caught:
            save_checkpoint(folder / "model.pt", model)
        assert_one_line(caught.value, "Permission denied")
        assert only_files(folder) == []
    finally:
        folder.chmod(0o700)


def test_rename_refused_leaves_nothing_behind(tmp_path, model, monkeypatch):
    target = tmp_path / "runs" / "model.pt"
    save_checkpoint(target, model, {"round": 0})

    def busy(src, dst):
        raise OSError(errno.EBUSY, os.strerror(errno.EBUSY))

    monkeypatch.setattr(checkpoint_module.os, "replace", busy)
    with pytest.raises(CheckpointError):
        save_checkpoint(target, model, {"round": 1})
    assert only_files(target.parent) == ["model.pt"] and load_checkpoint(target)[1]["round"] == 0


def test_train_live_save_into_an_unwritable_runs_dir_shows_an_error(data_dir, tmp_path, monkeypatch):
    """The page's 'Save to runs/' with ARELU_RUNS_DIR below a file: st.error with the reason, no traceback."""
    from streamlit.testing.v1 import AppTest
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("ARELU_DATA_DIR", data_dir)
    monkeypatch.setenv("ARELU_RUNS_DIR", str(blocker / "runs"))
    at = AppTest.from_file(str(REPO / "app.py"), default_timeout=180).run()
    at.switch_page("pages/train_live.py").run()
    assert not at.exception, at.exception
    manager = sys.modules["ui.common"].get_job_manager()
    job = manager.submit(at.session_state["arelu_owner_id"], quick(activation="arelu", activation_params={"alpha": 0.3}))
    at.session_state["train_job_ids"] = [job.id]
    assert manager.wait([job], WAIT) and job.status == "finished", job.message
    at.run()
    at.button(key=f"save_{job.id}").click().run()
    assert not at.exception, at.exception
    errors = [element.value for element in at.error]
    assert any("Could not save the checkpoint" in e and "Not a directory" in e for e in errors), errors
    with pytest.raises(CheckpointError):
        save_run_checkpoint(job.result)             # the library says the same


# --------------------------------------------------------------------------- divergence

def test_a_diverging_run_stops_cleanly_with_status_diverged(data_dir):
    events = []
    result = train(quick(activation="arelu", lr=1e4, train_subset=512), callback=events.append)
    assert result.status == "diverged" and "loss became" in result.message
    assert events[-1] == {"kind": "end", "status": "diverged", "message": result.message}
    assert result.epoch_accuracies == []             # no accuracy is claimed for a diverged run
    manager = JobManager(max_running=1)
    job = manager.submit("alice", quick(activation="arelu", lr=1e4, train_subset=512))
    assert manager.wait([job], WAIT)
    assert job.status == "diverged" and "learning rate" in job.message
    wait_for(lambda: not job_threads(), timeout=30, what="the job thread to end")


# --------------------------------------------------------------------------- many sessions at once

RACE = textwrap.dedent("""
    import threading, torch   # torch first: only the activations package's own imports race
    barrier = threading.Barrier(8)
    seen = []
    def first_use():
        barrier.wait()
        from arelu_core.activations import list_activations   # the first import, in 8 threads at once
        seen.append(len(list_activations()))
    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for t in threads: t.start()
    for t in threads: t.join()
    print(seen)
""")


def test_sessions_opening_at_once_see_the_whole_registry():
    """Found by scripts/load_test.py: on a fresh server, sessions loading Train live at the same moment
    saw a half-filled activation registry ('relu' not among the choices: a traceback)."""
    for _ in range(2):   # a fresh interpreter each time: the registry loads once per process
        done = subprocess.run([sys.executable, "-c", RACE], cwd=REPO, capture_output=True, text=True, timeout=120)
        assert done.returncode == 0, done.stderr[-2000:]
        counts = ast.literal_eval(done.stdout.strip().splitlines()[-1])
        assert len(set(counts)) == 1 and counts[0] >= 20, counts


# --------------------------------------------------------------------------- a server killed outright

SERVER = textwrap.dedent("""
    import os, sys, time
    from arelu_core.jobs import JobManager
    from arelu_core.trainer import TrainConfig
    if __name__ == "__main__":
        manager = JobManager(max_running=1, isolation="process")
        job = manager.submit("tab", TrainConfig(activation="relu", epochs=20, batch_size=16, device="cpu",
                                                data_dir=sys.argv[1]))
        while not any(event["kind"] == "step" for event in job.snapshot()):
            assert job.active, job.message
            time.sleep(0.05)
        import multiprocessing
        print([p.pid for p in multiprocessing.active_children()], flush=True)
        time.sleep(600)
""")


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:   # a zombie (exited, not yet reaped by init) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def test_a_killed_server_leaves_no_training_worker(tmp_path, data_dir):
    """The app trains in worker processes: when the server dies without cleaning up (SIGKILL, the OOM
    killer), each worker notices its parent is gone at its next step and exits."""
    script = tmp_path / "server.py"
    script.write_text(SERVER)
    server = subprocess.Popen([sys.executable, str(script), data_dir], cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        workers = ast.literal_eval(server.stdout.readline())
        assert len(workers) == 1 and pid_alive(workers[0])
        server.kill()
        server.wait(timeout=30)
        wait_for(lambda: not pid_alive(workers[0]), timeout=60, what="the orphaned worker to exit")
    finally:
        server.kill()
