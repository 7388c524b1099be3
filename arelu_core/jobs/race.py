"""A race: trainings that start together and are found again by an unguessable id.

A race is one unit of the manager's queue: its jobs start at once when enough slots are free (as many as
the race has, or all the slots for a race larger than them), and a StartGate then holds each training,
its data loaded and its model built (the trainer's "ready" event), until every one of them is ready, so
no worker begins its first step seconds before another (the bars would look unfair).

The id (new_race_id, 128 random bits) is the only way to a race from another browser session: a reload
or a shared link (?race=<id>) finds the race with it, and no listing of races exists.
"""
from __future__ import annotations

import re
import secrets
import threading
import time
from dataclasses import dataclass, field

from .task import Job

RACE_ID_BYTES = 16      # 128 bits: not guessable, so holding the id is what allows seeing the race
RACE_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{22}")


def new_race_id() -> str:
    return secrets.token_urlsafe(RACE_ID_BYTES)


def valid_race_id(text: object) -> bool:
    return isinstance(text, str) and RACE_ID_PATTERN.fullmatch(text) is not None


@dataclass(eq=False)
class Race:
    id: str
    owner: str
    jobs: list[Job]
    seen: float = field(default_factory=time.monotonic)   # last looked up (by anyone holding the id)

    @property
    def active(self) -> bool:
        return any(job.active for job in self.jobs)

    @property
    def finished_at(self) -> float | None:
        """When its last job ended (None while one is queued or running)."""
        return None if self.active else max((job.finished_at or 0.0) for job in self.jobs)


class StartGate:
    """Holds the jobs started together until each has arrived (loaded) or left (ended before its first step)."""

    def __init__(self, job_ids: list[str]):
        self._waiting = set(job_ids)
        self._lock = threading.Lock()
        self.opened = threading.Event()
        if not self._waiting:
            self.opened.set()

    def arrive(self, job_id: str) -> None:
        with self._lock:
            self._waiting.discard(job_id)
            if not self._waiting:
                self.opened.set()

    leave = arrive     # a job that fails while loading must not hold the others forever

    def wait(self, should_stop, poll: float = 0.02) -> bool:
        """Block until the gate opens (True) or should_stop() says so (False)."""
        while not self.opened.wait(poll):
            if should_stop():
                return False
        return True
