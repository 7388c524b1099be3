"""Races: trainings that start together (one unit of the queue, then a gate until each has loaded), found
again by their unguessable id from any session (a reload, a shared link), kept for a while once finished;
the paper's race and the line comparing ours with Table 1."""
import time

import pytest

from arelu_core.errors import ConfigError
from arelu_core.jobs import JobManager, valid_race_id
from arelu_core.jobs.race import new_race_id
from arelu_core.races import paper_race, start_gap, table1_comparison
from arelu_core.trainer import TrainConfig

WAIT = 240


def quick(activation="arelu", **overrides) -> TrainConfig:
    settings = dict(activation=activation, train_subset=256, test_subset=200, batch_size=128, lr=1e-2,
                    live_eval_every=0, params_every=0, device="cpu")
    return TrainConfig(**{**settings, **overrides})


def endless(activation="relu") -> TrainConfig:
    return quick(activation, train_subset=None, epochs=20)


def steps(job) -> int:
    return sum(event["kind"] == "step" for event in job.snapshot())


def wait_until(predicate, what):
    deadline = time.monotonic() + WAIT
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_raced_workers_load_apart_but_take_their_first_step_together(data_dir):
    manager = JobManager(max_running=2, isolation="process")
    race = manager.submit_race("teacher", [quick("relu"), quick("arelu")])
    assert manager.wait(race.jobs, WAIT) and [job.status for job in race.jobs] == ["finished", "finished"]
    relu, arelu = race.jobs
    assert relu.started_at == arelu.started_at                             # one unit of the queue
    assert relu.ready_at and arelu.ready_at                                # each reported its data loaded
    # the first step (its event) of each came after the later of the two had loaded: the gate held the other
    first_steps = [job.started_at + next(e["time"] for e in job.snapshot() if e["kind"] == "step") for job in race.jobs]
    assert min(first_steps) >= max(relu.ready_at, arelu.ready_at)
    assert start_gap(race.jobs) < 1.0, (start_gap(race.jobs), abs(relu.ready_at - arelu.ready_at))


def test_a_race_waits_as_one_unit_and_nothing_jumps_it(data_dir):
    manager = JobManager(max_running=2)
    blocker = manager.submit("alice", endless())
    wait_until(lambda: steps(blocker) > 0, "the blocker's first step")
    race = manager.submit_race("teacher", [quick("relu"), quick("tanh")], labels=["ReLU", "Tanh"])
    later = manager.submit("bob", quick("sigmoid"))
    # one slot is free, but the race needs two: it waits, and bob's single job does not jump it
    assert [job.status for job in race.jobs] == ["queued", "queued"] and later.status == "queued"
    assert [manager.queue_place(job) for job in (*race.jobs, later)] == [1, 1, 2]
    manager.stop("alice", blocker.id)
    assert manager.wait(race.jobs + [later], WAIT), [job.status for job in race.jobs]
    assert [job.label for job in race.jobs] == ["ReLU", "Tanh"]
    assert race.jobs[0].started_at == race.jobs[1].started_at >= blocker.finished_at
    assert later.started_at >= min(job.finished_at for job in race.jobs)


def test_a_race_is_found_by_its_id_from_another_session_and_outlives_its_owner(data_dir):
    alive = {"teacher": True}
    manager = JobManager(max_running=2, owner_timeout=0.5, is_owner_alive=lambda owner: alive.get(owner, False),
                         keep_races=1)
    race = manager.submit_race("teacher", [quick("relu", epochs=3), quick("arelu", epochs=3)])
    # (a second race here would finish after this one and, with keep_races=1, push it out: ids from the generator)
    assert valid_race_id(race.id) and len(race.id) == 22 and race.id != new_race_id() != new_race_id()
    assert manager.jobs("student") == [] and manager.race("not-the-id") is None  # no listing: the id is the key
    found = manager.race(race.id)                                             # a reload: a new session, same id
    assert found is race and [job.id for job in found.jobs] == [job.id for job in manager.jobs("teacher")]
    alive["teacher"] = False                       # the teacher's tab reloaded: that session is gone ...
    while race.active:                             # ... but the reloaded page keeps looking at the race
        assert manager.race(race.id) is race
        time.sleep(0.1)
    assert [job.status for job in race.jobs] == ["finished", "finished"], [job.message for job in race.jobs]
    manager.reap()
    assert manager.race(race.id) is race and all(job.result.steps == 6 for job in race.jobs)  # kept for its link
    newer = manager.submit_race("teacher", [quick("relu", train_subset=128)])
    manager.race(newer.id)
    assert manager.wait(newer.jobs, WAIT)
    assert manager.race(race.id) is None and manager.race(newer.id) is newer  # keep_races=1: the older went


def test_an_unwatched_race_of_a_vanished_owner_is_cancelled(data_dir):
    manager = JobManager(max_running=2, owner_timeout=0.3, is_owner_alive=lambda owner: False)
    race = manager.submit_race("teacher", [endless("relu"), endless("arelu")])
    assert manager.wait(race.jobs, WAIT)
    assert all(job.status == "stopped" and "session ended" in job.message for job in race.jobs)


def test_a_race_with_a_bad_config_queues_nothing():
    manager = JobManager(max_running=2)
    with pytest.raises(ConfigError):
        manager.submit_race("teacher", [quick("relu"), quick("no-such-activation")])
    with pytest.raises(ConfigError):
        manager.submit_race("teacher", [])
    assert manager.jobs("teacher") == []


def test_the_paper_race_is_table_1_and_its_line_labels_the_published_numbers():
    settings = paper_race()
    configs = settings.configs()
    assert [(c.activation, c.optimizer, c.lr, c.batch_size, c.epochs, c.train_subset) for c in configs] == [
        ("relu", "sgd", 1e-3, 128, 1, None), ("arelu", "sgd", 1e-3, 128, 1, None)]
    line = table1_comparison(configs, [12.5, 91.25])
    assert "ours: ReLU 12.50%, AReLU 91.25%" in line
    assert "Published (the paper's Table 1, SGD 0.001, mean of 5 trainings): ReLU 36.01%, AReLU 93.13%" in line
    subset = [TrainConfig(activation="relu", train_subset=2000), TrainConfig(activation="arelu", train_subset=2000)]
    assert table1_comparison(subset, [10.0, 11.0]).startswith("Not comparable") and "first 2 000" in table1_comparison(subset, [10.0, 11.0])
    assert table1_comparison(configs, [None, None]) is None


def test_a_race_larger_than_the_slots_starts_a_full_batch_then_job_by_job():
    manager = JobManager(max_running=2)
    race = manager.submit_race("teacher", [quick(name, train_subset=128) for name in ("relu", "tanh", "sigmoid")])
    first, second, third = race.jobs
    assert first.started_at == second.started_at and third.status == "queued" and manager.queue_place(third) == 1
    assert manager.wait(race.jobs, WAIT) and all(job.status == "finished" for job in race.jobs)
    assert third.started_at >= min(first.finished_at, second.finished_at)
