"""Background work for the app: a process-wide JobManager running library tasks off the caller's thread.

A job runs a Task: `target(emit, should_stop, **kwargs)`, a module-level function of the library (so it
pickles into a worker process) that reports progress as plain dicts through `emit`, polls `should_stop`
often and returns its result. A training is one such task (training_task(config)); a reproduction grid
another (reproduce.run.reproduce_task). Every background computation of the app goes through here, so
they all share the slots, the queue, ownership, reaping and stop.

    task.py      Task, Job, training_task, outcome (a result -> the job's status)
    worker.py    the worker process (events, result and errors through a pipe); threads_per_training
    race.py      Race (trainings started together, found by an unguessable id), StartGate, new_race_id
    manager.py   JobManager: slots, FIFO queue, owners, reaping, stop, pruning, races; the $ARELU_* settings

Each job runs either in a worker process (isolation="process", what the app uses) or in a thread
(isolation="thread", the library default: quick to start, and tests can monkeypatch it). A thread per job
still drives each worker, so queueing, stop and owner reaping are the same in both modes.

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
    race = manager.submit_race("session-1", [relu_config, arelu_config], labels=["ReLU", "AReLU"])
    manager.race(race.id)       -> the same Race from any session that holds the id (a reload, a shared link)
"""
from .manager import (DEFAULT_MAX_RUNNING, DEFAULT_OWNER_TIMEOUT, ENV_MAX_JOBS, ENV_OWNER_TIMEOUT, JobManager,
                      max_running_from_env, owner_timeout_from_env)
from .race import Race, StartGate, new_race_id, valid_race_id
from .task import ACTIVE, DONE, Job, Task, outcome, run_training, training_task
from .worker import cpu_cores, threads_per_training

__all__ = ["ACTIVE", "DONE", "DEFAULT_MAX_RUNNING", "DEFAULT_OWNER_TIMEOUT", "ENV_MAX_JOBS", "ENV_OWNER_TIMEOUT",
           "Job", "JobManager", "Race", "StartGate", "Task", "new_race_id", "valid_race_id", "cpu_cores", "max_running_from_env", "outcome", "owner_timeout_from_env",
           "run_training", "threads_per_training", "training_task"]
