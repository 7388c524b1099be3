"""A job's worker process: the task runs there, its events, result or error come back through a pipe, and the
CPU cores are shared among the running workers (threads_per_training).

In a process the work shares no interpreter lock with the web server: a thread training inside Streamlit lost
86% of its throughput to the page redraws (scripts/ui_cost.py: 1 349 vs 9 683 samples/s for the CLI).
"""
from __future__ import annotations

import io
import multiprocessing
import os
from dataclasses import replace
from typing import Callable

import torch

from ..errors import one_line
from ..trainer import TrainResult, make_model
from .task import Task

WORKER_START_METHOD = "spawn"   # fork would copy the server's threads and torch's thread pools: unsafe


def worker_context():
    return multiprocessing.get_context(WORKER_START_METHOD)


def shared_thread_count(threads: int):
    """The torch thread count of one worker, which the manager may change while it runs."""
    return worker_context().Value("i", threads, lock=False)


def run_in_worker(task: Task, name: str, thread_count, record: Callable[[dict], None],
                  should_stop: Callable[[], bool], may_start: Callable[[], bool] = lambda: True):
    """Run the task in a worker process; the calling thread relays its events and stop requests.
    A task's "ready" event holds the worker until may_start() (its race's gate). Raises what the task
    raised; returns its result."""
    context = worker_context()
    receiver, sender = context.Pipe(duplex=False)
    stop, go = context.Event(), context.Event()
    worker = context.Process(target=_worker_main, args=(task, sender, stop, go, thread_count, os.getpid()),
                             name=name, daemon=True)
    worker.start()
    sender.close()      # the worker holds the only writing end: EOF here means it is gone
    result, failure, held = None, None, False    # held: the worker reported "ready" and waits for `go`
    try:
        while True:
            if not stop.is_set() and should_stop():
                stop.set()
            if held and may_start():
                go.set()
                held = False
            if not receiver.poll(0.01 if held else 0.1):   # quick while a race waits to start
                continue
            try:
                kind, payload = receiver.recv()
            except EOFError:
                break
            if kind == "event":
                record(payload)
                held = held or payload.get("kind") == "ready"
            elif kind == "result":
                result = _restored(payload)
            elif kind == "error":
                failure = payload
    finally:
        receiver.close()
        worker.join(timeout=30)
        if worker.is_alive():   # it sent everything it had: never leave a worker behind
            worker.kill()
            worker.join(timeout=10)
    if failure is not None:
        raise failure
    if result is None:
        raise RuntimeError(f"the {task.kind} process ended without a result (exit code {worker.exitcode})")
    return result


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


def _worker_main(task: Task, sender, stop, go, threads, parent_pid: int) -> None:
    """A worker process: one task, its events and result sent back through `sender`.
    It stops on request, and by itself when the server that started it is gone. `threads` (a shared
    int) is the torch thread count the manager gives it, changed as other workers start and end.
    After its "ready" event it waits for `go` (set when the other jobs of its race are ready too)."""
    torch.set_num_threads(threads.value)

    def should_stop() -> bool:        # polled every step
        if threads.value != torch.get_num_threads():
            torch.set_num_threads(threads.value)
        return stop.is_set() or os.getppid() != parent_pid

    def emit(event: dict) -> None:
        sender.send(("event", event))
        if event.get("kind") == "ready":
            while not go.wait(0.01) and not should_stop():
                pass

    try:
        result = task.target(emit, should_stop, **task.kwargs)
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
