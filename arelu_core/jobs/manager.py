"""JobManager: the slots, the FIFO queue, ownership, reaping of vanished owners, stop and pruning (see the
package's docstring)."""
from __future__ import annotations

import os
import threading
import time
import uuid
from collections import deque
from typing import Callable

import torch

from ..errors import AReLULabError, ConfigError, one_line
from ..trainer import TrainConfig
from .race import Race, StartGate, new_race_id
from .task import Job, Task, outcome, training_task
from .worker import run_in_worker, shared_thread_count, threads_per_training

ENV_MAX_JOBS = "ARELU_MAX_JOBS"
DEFAULT_MAX_RUNNING = 2
ENV_OWNER_TIMEOUT = "ARELU_SESSION_TIMEOUT"
DEFAULT_OWNER_TIMEOUT = 120.0   # seconds; Streamlit keeps a disconnected session for reconnects as long
LIVENESS_CHECK_SECONDS = 1.0    # a running job asks whether its owner is still there at most this often
ISOLATIONS = ("thread", "process")
KEEP_RACES = 16                  # finished races kept for their links, newest first ...
KEEP_RACE_SECONDS = 3 * 3600.0   # ... and for at most this long after they ended


class JobManager:
    def __init__(self, max_running: int | None = None, keep_finished: int = 48,
                 keep_finished_per_owner: int = 12, owner_timeout: float | None = None,
                 is_owner_alive: Callable[[str], bool] | None = None, isolation: str = "thread",
                 keep_races: int = KEEP_RACES, keep_race_seconds: float = KEEP_RACE_SECONDS):
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
        self._races: dict[str, Race] = {}
        self.keep_races, self.keep_race_seconds = keep_races, keep_race_seconds

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

    def submit_race(self, owner: str, configs: list[TrainConfig], labels: list[str] | None = None) -> Race:
        """Queue trainings as one race: they start together (one unit of the queue, then a StartGate) and
        anyone holding the race's id finds them (race()). All or nothing: a bad config raises ConfigError
        and queues none."""
        tasks = [training_task(config) for config in configs]
        if not tasks:
            raise ConfigError("a race needs at least one training")
        labels = list(labels or [task.kwargs["config"].activation for task in tasks])
        race_id, owner = new_race_id(), str(owner)
        jobs = [Job(id=uuid.uuid4().hex[:12], owner=owner, task=task, label=label, race_id=race_id)
                for task, label in zip(tasks, labels)]
        self.touch(owner)
        self.reap()
        with self._lock:
            race = self._races[race_id] = Race(race_id, owner, jobs)
            for job in jobs:
                self._jobs[job.id] = job
                self._queue.append(job)
            self._start_queued()
        return race

    def race(self, race_id: str) -> Race | None:
        """The race with this id, for whoever holds the id (a reload, a shared link); None once forgotten.
        Looking keeps a running race alive after its owner's session is gone."""
        with self._lock:
            race = self._races.get(str(race_id))
            if race is not None:
                race.seen = time.monotonic()
        return race

    def queue_place(self, job: Job) -> int | None:
        """The place of the job's unit (its race, or itself) in the queue: 1 starts next; None once it runs."""
        with self._lock:
            units: list[str] = []
            for queued in self._queue:
                unit = queued.race_id or queued.id
                if unit not in units:
                    units.append(unit)
                if queued is job:
                    return len(units)
        return None

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
                if self._race_watched(job):
                    continue        # someone holding the race's link is looking: it goes on
                if job in self._queue:
                    self._queue.remove(job)
                    job._abandoned = True
                    self._finish(job, "stopped", "cancelled before it started: its session ended")
                elif job.active:
                    job._abandoned = True
                    job._stop_requested.set()       # the thread ends after this step and reaps again
                if not job.active and job.race_id is None:   # a finished race stays for its link (_prune)
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
        if self.owner_gone(job.owner) and not self._race_watched(job):
            job._abandoned = True
            return True
        return False

    def _race_watched(self, job: Job) -> bool:
        """The job's race was looked up (by its link) within the owner timeout."""
        race = self._races.get(job.race_id) if job.race_id else None
        return race is not None and time.monotonic() - race.seen <= (self.owner_timeout or 0.0)

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
        """Start the head of the queue while slots allow. A race is one unit: its jobs start together once
        enough slots are free (all of them, or every slot for a race larger than that); the rest of a race
        larger than the slots then starts job by job as slots free up, as single jobs do."""
        with self._lock:
            while self._queue:
                head = self._queue[0]
                unit = [job for job in self._queue if job.race_id == head.race_id] if head.race_id else [head]
                free = self.max_running - len(self._running)
                race = self._races.get(head.race_id) if head.race_id else None
                begun = race is not None and any(job.started_at is not None for job in race.jobs)
                if free < (1 if begun else min(len(unit), self.max_running)):
                    return
                starting = unit[:free]
                gate, now = StartGate([job.id for job in starting]), time.time()
                for job in starting:
                    self._queue.remove(job)
                    job.status, job.started_at, job._gate = "running", now, gate
                    self._running.add(job.id)
                for job in starting:
                    threading.Thread(target=self._run, args=(job,), name=f"arelu-job-{job.id}", daemon=True).start()

    def _emit(self, job: Job, event: dict) -> None:
        """A thread job's events; at "ready" it waits for the jobs started with it (see race.py)."""
        self._record(job, event)
        if event.get("kind") == "ready":
            job._gate.wait(lambda: self._should_stop(job))

    def _record(self, job: Job, event: dict) -> None:
        if event.get("kind") == "ready":
            job.ready_at = time.time()
            job._gate.arrive(job.id)
        job._record(event)

    def _run(self, job: Job) -> None:
        status, message = "failed", f"{job.kind} ended without a result"
        try:
            # Share the cores (threads_per_training): with torch's default (every core) per job, two
            # trainings and the web server oversubscribe the CPU and OpenMP's spinning halves throughput.
            if self.isolation == "process":
                job.result = self._run_in_worker(job)
            else:
                # Per thread with torch's OpenMP backend, and fixed for the whole run (a thread cannot be
                # told later): sized for the busiest case.
                torch.set_num_threads(threads_per_training(self.max_running))
                job.result = job.task.target(lambda event: self._emit(job, event), lambda: self._should_stop(job),
                                             **job.task.kwargs)
            status, message = outcome(job.result, job.stop_requested or job._abandoned)
            if job._abandoned and status == "stopped":
                steps = getattr(job.result, "steps", None)
                message = f"cancelled{f' at step {steps}' if steps is not None else ''}: its session ended"
        except AReLULabError as exc:          # missing data, bad checkpoint dir...: the user can fix it
            message = str(exc)
        except Exception as exc:              # a bug or an exhausted device: say what, in one line
            message = f"{job.kind} failed unexpectedly: {type(exc).__name__}" + (f": {one_line(exc)}" if str(exc).strip() else "")
        finally:
            job._gate.leave(job.id)
            with self._lock:
                self._running.discard(job.id)
                self._finish(job, status, message)
            try:
                self.reap()             # drops this job if its owner is gone, and queued jobs of gone owners
            finally:
                self._start_queued()

    def _run_in_worker(self, job: Job):
        """The task in a worker process, its thread count registered for _share_cores while it runs."""
        thread_count = shared_thread_count(threads_per_training(self.running_count()))
        with self._lock:
            self._worker_threads[job.id] = thread_count
        self._share_cores()
        try:
            return run_in_worker(job.task, f"arelu-worker-{job.id}", thread_count,
                                 lambda event: self._record(job, event), lambda: self._should_stop(job),
                                 may_start=job._gate.opened.is_set)
        finally:
            with self._lock:
                self._worker_threads.pop(job.id, None)
            self._share_cores()

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
        """Forget the oldest finished jobs beyond the per-owner and the global limits, and finished races
        beyond keep_races or older than keep_race_seconds (a race's jobs go with it, not one by one)."""
        with self._lock:
            finished = sorted((race for race in self._races.values() if not race.active), key=lambda r: r.finished_at)
            now = time.time()
            for index, race in enumerate(finished):
                if len(finished) - index > self.keep_races or now - race.finished_at > self.keep_race_seconds:
                    del self._races[race.id]
                    for job in race.jobs:
                        self._jobs.pop(job.id, None)
            done = sorted((j for j in self._jobs.values() if not j.active and j.race_id is None),
                          key=lambda j: j.finished_at or 0)
            per_owner: dict[str, int] = {}
            for job in reversed(done):  # newest first: these are kept
                per_owner[job.owner] = per_owner.get(job.owner, 0) + 1
            kept_total = len(done)
            for job in done:            # oldest first: these go
                if per_owner[job.owner] > self.keep_finished_per_owner or kept_total > self.keep_finished:
                    del self._jobs[job.id]
                    per_owner[job.owner] -= 1
                    kept_total -= 1


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
