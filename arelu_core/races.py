"""Races of trainings as Train live and `arelu race` run them: the paper's race, how far apart the
trainings began, and how ours compare with the paper's published Table 1.

The paper's race is Table 1's SGD 1e-3 column: ReLU against AReLU, SGD with momentum 0.9, learning rate
1e-3, batch 128, one epoch on all 60 000 MNIST training digits. On a subset (2 000 digits: 16 steps) both
stay near 10% at this learning rate; the full epoch shows the paper's effect.
"""
from __future__ import annotations

from dataclasses import dataclass

from .activations import activation_info
from .reproduce.paper import paper_tables, table1_value
from .runs import live_report_intervals
from .trainer import TrainConfig

PAPER_RACE_ACTIVATIONS = ("relu", "arelu")
PAPER_RACE_OPTIMIZER, PAPER_RACE_LR = "sgd", 1e-3


@dataclass(frozen=True)
class RaceSettings:
    """What a race's trainings share (the page's settings; the CLI's flags)."""
    activations: tuple[str, ...]
    optimizer: str = "sgd"
    lr: float = 1e-3
    batch_size: int = 128
    epochs: int = 1
    train_subset: int | None = None
    dataset: str = "mnist"
    seed: int = 0
    device: str = "auto"
    alpha: float | None = None      # ELSA's initial alpha and beta, for the activations that have them
    beta: float | None = None
    learn: str = "both"             # which of them training changes ("none": the ablation's frozen curve)

    def configs(self) -> list[TrainConfig]:
        live_every, params_every = live_report_intervals(self.train_subset, self.batch_size, self.dataset)
        return [TrainConfig(activation=name, activation_params=activation_params(name, self.alpha, self.beta, self.learn),
                            optimizer=self.optimizer, lr=self.lr, batch_size=self.batch_size, epochs=self.epochs,
                            seed=self.seed, device=self.device, train_subset=self.train_subset,
                            live_eval_every=live_every, params_every=params_every, dataset=self.dataset)
                for name in self.activations]

    def labels(self) -> list[str]:
        return [activation_info(name).name for name in self.activations]


def activation_params(name: str, alpha: float | None, beta: float | None, learn: str = "both") -> dict:
    """ELSA's attention alpha and beta: only activations that have it take them (CAReLU's are other things)."""
    if not activation_info(name).attention:
        return {}
    return ({key: value for key, value in (("alpha", alpha), ("beta", beta)) if value is not None}
            | ({} if learn == "both" else {"learn": learn}))


def paper_race() -> RaceSettings:
    """Table 1's protocol (batch, epochs: from assets/paper_tables.json) at SGD 1e-3, ReLU against AReLU."""
    protocol = paper_tables()["table1"]["protocol"]
    return RaceSettings(activations=PAPER_RACE_ACTIVATIONS, optimizer=PAPER_RACE_OPTIMIZER, lr=PAPER_RACE_LR,
                        batch_size=protocol["batch_size"], epochs=protocol["epochs"], train_subset=None)


def table1_comparison(configs: list[TrainConfig], first_epoch_accuracies: list[float | None]) -> str | None:
    """One line: our test accuracy after the first epoch beside Table 1's published one (labelled as such);
    why they do not compare when the race is not Table 1's protocol; None before any epoch has ended."""
    rows = [(config, accuracy) for config, accuracy in zip(configs, first_epoch_accuracies) if accuracy is not None]
    if not rows:
        return None
    protocol = paper_tables()["table1"]["protocol"]
    config = rows[0][0]
    differences = []
    if config.dataset != "mnist" or config.network != "mnist-conv":
        differences.append("MNIST-Conv on MNIST")
    if config.train_subset is not None:
        differences.append(f"all 60 000 training digits (this race: the first {config.train_subset:,})".replace(",", " "))
    if config.batch_size != protocol["batch_size"]:
        differences.append(f"batch {protocol['batch_size']}")
    published = [table1_value(c.activation, c.optimizer, c.lr) for c, _ in rows]
    if all(value is None for value in published) and not differences:
        differences.append("a learning rate and activation of its columns and rows")
    if differences:
        return "Not comparable with the paper's Table 1, which uses " + ", ".join(differences) + "."
    ours = ", ".join(f"{activation_info(c.activation).name} {accuracy:.2f}%" for c, accuracy in rows)
    theirs = ", ".join(f"{activation_info(c.activation).name} " + ("not in the table" if value is None else f"{value:.2f}%")
                       for (c, _), value in zip(rows, published))
    optimizer = {"sgd": "SGD", "adam": "Adam"}.get(config.optimizer, config.optimizer)
    return (f"After the first epoch, ours: {ours}. Published (the paper's Table 1, {optimizer} {config.lr:g}, "
            f"mean of {protocol['trainings']} trainings): {theirs}.")


def first_epoch_accuracy(events: list[dict]) -> float | None:
    return next((event["test_accuracy"] for event in events if event.get("kind") == "epoch"), None)


def start_times(jobs) -> list[float | None]:
    """When each job made its first step, in seconds since the epoch (None before it has)."""
    times = []
    for job in jobs:
        first = next((event["time"] for event in job.snapshot() if event.get("kind") == "step"), None)
        times.append(None if first is None or job.started_at is None else job.started_at + first)
    return times


def start_gap(jobs) -> float | None:
    """Seconds between the first and the last job's first step (None until each has made one)."""
    times = start_times(jobs)
    return None if not times or None in times else max(times) - min(times)
