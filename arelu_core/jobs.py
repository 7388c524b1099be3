"""Background work for the app: a process-wide JobManager running library tasks off the caller's thread.

A job runs a Task: `target(emit, should_stop, **kwargs)`, a module-level function of the library (so it
pickles into a worker process) that reports progress as plain dicts through `emit`, polls `should_stop`
often and returns its result. A training is one such task (training_task(config)); a reproduction grid
another (reproduce.run.reproduce_task). Every background computation of the app goes through here, so
they all share the slots, the queue, ownership, reaping and stop.

Each job runs either in a worker process (isolation="process", what the app uses) or in a thread
(isolation="thread", the library default: quick to start, and tests can monkeypatch it). In a process the
work shares no interpreter lock with the web server: a thread training inside Streamlit lost 86% of its
throughput to the page redraws (scripts/ui_cost.py: 1 349 vs 9 683 samples/s for the CLI). A thread
per job still drives each worker, so queueing, stop and owner reaping are the same in both modes.

At most `max_running` jobs run at once (default 2, or $ARELU_MAX_JOBS); further jobs wait
in a FIFO queue and know their position. Each job belongs to an owner (a browser session id) and
an owner only ever sees its own jobs. The task's `emit` appends progress events to the job;
`stop()` is cooperative (the task polls `should_stop`, a training every step). Finished jobs are pruned,
oldest first, so a long-running server keeps bounded memory.

Owners that vanish (a browser tab closed mid-training) are reaped when the manager has an
`owner_timeout`: an owner counts as present while `is_owner_alive(owner)` says so (the app asks
Streamlit whether the session is still connected) or while it was seen (`touch`, `submit`, `jobs`,
`get`) within the timeout. Once gone, its queued jobs are dropped, its running ones stop after their
current step (status "stopped", message "cancelled ...: its session ended") and its finished jobs
are forgotten, so no thread or model outlives the session for long.

    manager = JobManager()
    job = manager.submit("session-1", TrainConfig(activation="arelu", train_subset=512))
    manager.jobs("session-1")   -> [job]          job.status: queued/running/finished/stopped/diverged/failed
    job.snapshot()              -> copy of the events so far
    manager.stop("session-1", job.id)
    manager.submit_task("session-1", Task(my_module.my_target, {"n": 3}, kind="sweep"), label="sweep")
    JobManager(isolation="process")             # each training in its own worker process (the app)
    JobManager(owner_timeout=120, is_owner_alive=lambda owner: ...)   # reap vanished owners
"""
from __future__ import annotations

import multiprocessing
import io
import os
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import torch

from .errors import AReLULabError, ConfigError, one_line
from .trainer import TrainConfig, TrainResult, make_model, train

ENV_MAX_JOBS = "ARELU_MAX_JOBS"
DEFAULT_MAX_RUNNING = 2
ENV_OWNER_TIMEOUT = "ARELU_SESSION_TIMEOUT"
DEFAULT_OWNER_TIMEOUT = 120.0   # seconds; Streamlit keeps a disconnected session for reconnects as long
LIVENESS_CHECK_SECONDS = 1.0    # a running job asks whether its owner is still there at most this often
ISOLATIONS = ("thread", "process")
WORKER_START_METHOD = "spawn"   # fork would copy the server's threads and torch's thread pools: unsafe
ACTIVE = ("queued", "running")
DONE = ("finished", "stopped", "diverged", "failed")


@dataclass(frozen=True)
class Task:
    """What a job runs: target(emit, should_stop, **kwargs) -> result. For a worker process the target must be
    a module-level function and kwargs and the result picklable (a TrainResult's model crosses as its weights).
    The job's status comes from the result's `status` when it names one of DONE (a TrainResult's does);
    otherwise it is "stopped" when a stop was asked for, else "finished"."""
    target: Callable[..., Any]
    kwargs: dict = field(default_factory=dict)
    kind: str = "task"


def run_training(emit: Callable[[dict], None], should_stop: Callable[[], bool], config: TrainConfig) -> TrainResult:
    return train(config, callback=emit, should_stop=should_stop)


def training_task(config: TrainConfig) -> Task:
    """A training as a job's task (validated: a bad config raises ConfigError here, not in the worker)."""
    config = replace(config, activation_params=dict(config.activation_params)).validate()
    return Task(run_training, {"config": config}, kind="training")


@dataclass(eq=False)
class Job:
    id: str
    owner: str
    task: Task
    label: str
    status: str = "queued"
    message: str = ""
    submitted_at: float = field(default_factory=time.time)
    started_at: float | None = None
    finished_at: float | None = None
    result: Any = None             # what the task returned: a TrainResult for a training
    events: list[dict] = field(default_factory=list)
    _stop_requested: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _abandoned: bool = field(default=False, repr=False)      # its owner vanished: cancelled, not stopped
    _liveness_checked: float = field(default=0.0, repr=False)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE

    @property
    def kind(self) -> str:
        return self.task.kind

    @property
    def config(self) -> TrainConfig | None:
        """A training's TrainConfig (None for other tasks)."""
        return self.task.kwargs.get("config") if self.task.kind == "training" else None

    @property
    def stop_requested(self) -> bool:
        return self._stop_requested.is_set()

    def snapshot(self) -> list[dict]:
        """A copy of the events so far, safe to read while the trainer appends."""
        with self._lock:
            return list(self.events)

    def _record(self, event: dict) -> None:
        # Seconds since the start let the page compute a live throughput between two steps.
        event = {**event, "time": time.time() - (self.started_at or time.time())}
        with self._lock:
            self.events.append(event)


class JobManager:
    def __init__(self, max_running: int | None = None, keep_finished: int = 48,
                 keep_finished_per_owner: int = 12, owner_timeout: float | None = None,
                 is_owner_alive: Callable[[str], bool] | None = None, isolation: str = "thread"):
        if isolation not in ISOLATIONS:
            raise ConfigError(f"isolation must be one of {', '.join(ISOLATIONS)}, got {isolation!r}")
        self.isolation = isolation
        self.max_running = max_running if max_running is not None else max_running_from_env()
        if self.max_running < 1:
            raise ConfigError(f"at least one training must be allowed to run, got {self.max_running}")
        self.keep_finished = keep_finished
        self.keep_finished_per_owner = keep_finished_per_owner
        self._jobs: dict[str, Job] = {}        # insertion order = submission order
        self._queue: deque[Job] = deque()
        self._running: set[str] = set()
        self._lock = threading.RLock()
        self.owner_timeout = owner_timeout          # None: owners never expire (scripts, tests, CLI)
        self.is_owner_alive = is_owner_alive
        self._last_seen: dict[str, float] = {}
        self._worker_threads: dict[str, object] = {}   # job id -> shared int: the worker's torch thread count

    # -- what a session does ------------------------------------------------------------------
    def submit(self, owner: str, config: TrainConfig, label: str | None = None) -> Job:
        """Queue a training; it starts at once when a slot is free. A bad config raises ConfigError here."""
        task = training_task(config)
        return self.submit_task(owner, task, label or task.kwargs["config"].activation)

    def submit_task(self, owner: str, task: Task, label: str) -> Job:
        """Queue any task; it starts at once when a slot is free (one slot per job, whatever its kind)."""
        job = Job(id=uuid.uuid4().hex[:12], owner=str(owner), task=task, label=label)
        self.touch(job.owner)
        self.reap()
        with self._lock:
            self._jobs[job.id] = job
            self._queue.append(job)
            self._start_queued()
        return job

    def jobs(self, owner: str) -> list[Job]:
        self.touch(owner)
        with self._lock:
            return [job for job in self._jobs.values() if job.owner == owner]

    def get(self, owner: str, job_id: str) -> Job | None:
        """The job, or None when it does not exist, was pruned, or belongs to someone else."""
        self.touch(owner)
        with self._lock:
            job = self._jobs.get(job_id)
        return job if job is not None and job.owner == owner else None

    def queue_position(self, job: Job) -> int | None:
        """1 for the next job to start; None once it runs or is done."""
        with self._lock:
            for position, queued in enumerate(self._queue, start=1):
                if queued is job:
                    return position
        return None

    def stop(self, owner: str, job_id: str) -> bool:
        """Stop a queued job at once, or ask a running one to stop after its current step."""
        job = self.get(owner, job_id)
        if job is None or not job.active:
            return False
        with self._lock:
            if job in self._queue:
                self._queue.remove(job)
                self._finish(job, "stopped", "stopped before it started")
                return True
        job._stop_requested.set()
        return True

    # -- vanished owners ------------------------------------------------------------------------
    def touch(self, owner: str) -> None:
        """The owner is here now (a page run, a poll): its jobs are safe for another owner_timeout."""
        with self._lock:
            self._last_seen[str(owner)] = time.monotonic()

    def owner_gone(self, owner: str) -> bool:
        """True once the owner is neither alive (is_owner_alive) nor seen within owner_timeout."""
        if self.owner_timeout is None:
            return False
        if self.is_owner_alive is not None:
            try:
                alive = bool(self.is_owner_alive(owner))
            except Exception:   # a broken liveness check must never cancel someone's training
                alive = True
            if alive:
                self.touch(owner)
                return False
        with self._lock:
            last_seen = self._last_seen.get(owner)
        return last_seen is None or time.monotonic() - last_seen > self.owner_timeout

    def reap(self) -> list[str]:
        """Cancel the queued and running jobs of vanished owners and forget their finished ones.
        Returns the owners found gone. Called on submit and whenever a job ends; cheap."""
        if self.owner_timeout is None:
            return []
        with self._lock:
            owners = {job.owner for job in self._jobs.values()}
        gone = [owner for owner in owners if self.owner_gone(owner)]   # outside the lock: may ask Streamlit
        if not gone:
            return []
        with self._lock:
            for job in [job for job in self._jobs.values() if job.owner in gone]:
                if job in self._queue:
                    self._queue.remove(job)
                    job._abandoned = True
                    self._finish(job, "stopped", "cancelled before it started: its session ended")
                elif job.active:
                    job._abandoned = True
                    job._stop_requested.set()       # the thread ends after this step and reaps again
                if not job.active:
                    self._jobs.pop(job.id, None)
            for owner in gone:
                if not any(job.owner == owner for job in self._jobs.values()):
                    self._last_seen.pop(owner, None)
        return gone

    def _should_stop(self, job: Job) -> bool:
        """The trainer's per-step poll: a stop request, or (at most once a second) a vanished owner."""
        if job._stop_requested.is_set():
            return True
        if self.owner_timeout is None:
            return False
        now = time.monotonic()
        if now - job._liveness_checked < LIVENESS_CHECK_SECONDS:
            return False
        job._liveness_checked = now
        if self.owner_gone(job.owner):
            job._abandoned = True
            return True
        return False

    def running_count(self) -> int:
        with self._lock:
            return len(self._running)

    def wait(self, jobs: list[Job], timeout: float | None = None, poll: float = 0.05) -> bool:
        """Block until every job is done (True) or the timeout passes (False). For tests and scripts."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while any(job.active for job in jobs):
            if deadline is not None and time.monotonic() > deadline:
                return False
            time.sleep(poll)
        return True

    # -- inside ---------------------------------------------------------------------------------
    def _start_queued(self) -> None:
        with self._lock:
            while self._queue and len(self._running) < self.max_running:
                job = self._queue.popleft()
                job.status, job.started_at = "running", time.time()
                self._running.add(job.id)
                threading.Thread(target=self._run, args=(job,), name=f"arelu-job-{job.id}", daemon=True).start()

    def _run(self, job: Job) -> None:
        status, message = "failed", f"{job.kind} ended without a result"
        try:
            # Share the cores (threads_per_training): with torch's default (every core) per job, two
            # trainings and the web server oversubscribe the CPU and OpenMP's spinning halves throughput.
            if self.isolation == "process":
                job.result = self._run_in_worker(job, threads_per_training(self.running_count()))
            else:
                # Per thread with torch's OpenMP backend, and fixed for the whole run (a thread cannot be
                # told later): sized for the busiest case.
                torch.set_num_threads(threads_per_training(self.max_running))
                job.result = job.task.target(job._record, lambda: self._should_stop(job), **job.task.kwargs)
            status, message = _outcome(job.result, job.stop_requested or job._abandoned)
            if job._abandoned and status == "stopped":
                steps = getattr(job.result, "steps", None)
                message = f"cancelled{f' at step {steps}' if steps is not None else ''}: its session ended"
        except AReLULabError as exc:          # missing data, bad checkpoint dir...: the user can fix it
            message = str(exc)
        except Exception as exc:              # a bug or an exhausted device: say what, in one line
            message = f"{job.kind} failed unexpectedly: {type(exc).__name__}" + (f": {one_line(exc)}" if str(exc).strip() else "")
        finally:
            with self._lock:
                self._running.discard(job.id)
                self._finish(job, status, message)
            try:
                self.reap()             # drops this job if its owner is gone, and queued jobs of gone owners
            finally:
                self._start_queued()

    def _run_in_worker(self, job: Job, threads: int):
        """Run the task in a worker process; this thread relays its events and stop requests."""
        context = multiprocessing.get_context(WORKER_START_METHOD)
        receiver, sender = context.Pipe(duplex=False)
        stop = context.Event()
        thread_count = context.Value("i", threads, lock=False)   # the manager may change it while it runs
        worker = context.Process(target=_worker_main, args=(job.task, sender, stop, thread_count, os.getpid()),
                                 name=f"arelu-worker-{job.id}", daemon=True)
        worker.start()
        sender.close()      # the worker holds the only writing end: EOF here means it is gone
        with self._lock:
            self._worker_threads[job.id] = thread_count
        self._share_cores()
        result, failure = None, None
        try:
            while True:
                if not stop.is_set() and self._should_stop(job):
                    stop.set()
                if not receiver.poll(0.1):
                    continue
                try:
                    kind, payload = receiver.recv()
                except EOFError:
                    break
                if kind == "event":
                    job._record(payload)
                elif kind == "result":
                    result = _restored(payload)
                elif kind == "error":
                    failure = payload
        finally:
            with self._lock:
                self._worker_threads.pop(job.id, None)
            self._share_cores()
            receiver.close()
            worker.join(timeout=30)
            if worker.is_alive():   # it sent everything it had: never leave a worker behind
                worker.kill()
                worker.join(timeout=10)
        if failure is not None:
            raise failure
        if result is None:
            raise RuntimeError(f"the {job.kind} process ended without a result (exit code {worker.exitcode})")
        return result

    def _share_cores(self) -> None:
        """Split the cores among the running workers again whenever one starts or ends (on 8 cores: one
        alone gets 4 threads, two get 2 each). Workers adopt the new count at their next step."""
        with self._lock:
            count = threads_per_training(len(self._worker_threads))
            for threads in self._worker_threads.values():
                threads.value = count

    def _finish(self, job: Job, status: str, message: str) -> None:
        job.status, job.message, job.finished_at = status, message, time.time()
        self._prune()

    def _prune(self) -> None:
        """Forget the oldest finished jobs beyond the per-owner and the global limits."""
        with self._lock:
            done = sorted((j for j in self._jobs.values() if not j.active), key=lambda j: j.finished_at or 0)
            per_owner: dict[str, int] = {}
            for job in reversed(done):  # newest first: these are kept
                per_owner[job.owner] = per_owner.get(job.owner, 0) + 1
            kept_total = len(done)
            for job in done:            # oldest first: these go
                if per_owner[job.owner] > self.keep_finished_per_owner or kept_total > self.keep_finished:
                    del self._jobs[job.id]
                    per_owner[job.owner] -= 1
                    kept_total -= 1


def _outcome(result, stop_requested: bool) -> tuple[str, str]:
    """(status, message) of a task's result: its own when it states one (a TrainResult), else from the stop."""
    status = result.get("status") if isinstance(result, dict) else getattr(result, "status", None)
    message = result.get("message") if isinstance(result, dict) else getattr(result, "message", None)
    if status not in DONE:
        status = "stopped" if stop_requested else "finished"
    return status, str(message or "")


def _portable(result):
    """What the worker sends back. A TrainResult's model goes as torch.save bytes (read back with
    weights_only=True), the rest as plain data: tensors sent through the pipe itself would live in shared
    memory that vanishes with the worker process."""
    if isinstance(result, TrainResult):
        weights = io.BytesIO()
        torch.save(result.model.cpu().state_dict(), weights)
        return "training", (replace(result, model=None), weights.getvalue())
    return "plain", result


def _restored(payload):
    kind, value = payload
    if kind != "training":
        return value
    result, weights = value
    model = make_model(result.config)      # the dataset decides its input channels and classes
    model.load_state_dict(torch.load(io.BytesIO(weights), map_location="cpu", weights_only=True))
    return replace(result, model=model)


def _worker_main(task: Task, sender, stop, threads, parent_pid: int) -> None:
    """A worker process: one task, its events and result sent back through `sender`.
    It stops on request, and by itself when the server that started it is gone. `threads` (a shared
    int) is the torch thread count the manager gives it, changed as other workers start and end."""
    torch.set_num_threads(threads.value)

    def should_stop() -> bool:        # polled every step
        if threads.value != torch.get_num_threads():
            torch.set_num_threads(threads.value)
        return stop.is_set() or os.getppid() != parent_pid

    try:
        result = task.target(lambda event: sender.send(("event", event)), should_stop, **task.kwargs)
        sender.send(("result", _portable(result)))
    except BaseException as exc:   # the parent turns it into the job's status and message
        try:
            sender.send(("error", exc))
        except Exception:          # an exception that cannot be pickled: its type and first line still go
            sender.send(("error", RuntimeError(f"{type(exc).__name__}: {one_line(exc)}")))
    finally:
        sender.close()


def cpu_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def threads_per_training(trainings: int) -> int:
    """CPU threads for each of `trainings` concurrent trainings: the cores split among them plus one share
    kept for the web server and a browser on the same machine. Measured on 2 cores with the browser local
    (scripts/ui_cost.py): a lone worker on 2 threads made 4 900 samples/s, on 1 thread 7 300, because a
    parallel region waits at each barrier for the thread whose core the browser holds."""
    return max(1, cpu_cores() // (max(1, trainings) + 1))


def owner_timeout_from_env(default: float = DEFAULT_OWNER_TIMEOUT) -> float:
    """Seconds a vanished session's jobs are kept (for a reconnect) before they are cancelled."""
    raw = os.environ.get(ENV_OWNER_TIMEOUT, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise ConfigError(f"{ENV_OWNER_TIMEOUT} must be a number of seconds >= 0, got {raw!r}")
    return value


def max_running_from_env(default: int = DEFAULT_MAX_RUNNING) -> int:
    raw = os.environ.get(ENV_MAX_JOBS, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{ENV_MAX_JOBS} must be a positive integer, got {raw!r}") from None
    if value < 1:
        raise ConfigError(f"{ENV_MAX_JOBS} must be a positive integer, got {raw!r}")
    return value
