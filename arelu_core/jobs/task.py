"""What a job runs and what it is: Task (a library function and its arguments), Job (its status, events and
result), the task of a training, and how a task's result becomes the job's status."""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any, Callable

from ..trainer import TrainConfig, TrainResult, train

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
    race_id: str | None = None     # set for the jobs of a race (see race.py)
    ready_at: float | None = None  # when the task reported "ready" (data loaded, model built)
    _gate: Any = field(default=None, repr=False)             # the StartGate it starts through, once running
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
    def waiting_for_race(self) -> bool:
        """Ready, but held until the other trainings started with it are ready too."""
        return (self.status == "running" and self.ready_at is not None and self._gate is not None
                and not self._gate.opened.is_set())

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


def outcome(result, stop_requested: bool) -> tuple[str, str]:
    """(status, message) of a task's result: its own when it states one (a TrainResult), else from the stop."""
    status = result.get("status") if isinstance(result, dict) else getattr(result, "status", None)
    message = result.get("message") if isinstance(result, dict) else getattr(result, "message", None)
    if status not in DONE:
        status = "stopped" if stop_requested else "finished"
    return status, str(message or "")
