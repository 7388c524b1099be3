"""The paper's MNIST experiments as grids of runs (reference sections 2-3).

    table1  every activation x {Adam, SGD} x lr 1e-2..1e-5, one epoch, 5 seeds
    fig2    AReLU from the 9 (alpha, beta) initialisations, accuracy per epoch + alpha/beta paths
    fig3    the Table 1 trainings at SGD 1e-4 and 1e-5 over more epochs (paper: 20; default 5)
    table4  every activation + ELSA ('<name>+elsa'), Table 1's protocol, compared with our Table 1
    table2  transfer learning source -> target (default MNIST -> SVHN); its own runner: table2.py
    ablation  Table 1's protocol over VARIANTS (AReLU frozen, started as ReLU, ReLU at k x the lr, ...)
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..activations import resolve_name
from ..activations.registry import ELSA_SUFFIX
from ..errors import ConfigError
from ..trainer import TrainConfig
from .paper import fig2_inits, official_code_params, paper_activations, paper_tables

PAPER_OPTIMIZERS = ("adam", "sgd")   # Table 1's columns in its order (TrainConfig checks each name)


@dataclass(frozen=True)
class Variant:
    """One arm of an ablation: an activation with its registry parameters, trained at lr_scale x the setting's lr."""
    key: str
    name: str                     # display name
    activation: str
    params: dict = field(default_factory=dict)
    lr_scale: float = 1.0
    description: str = ""
    in_table1: bool = False       # the very runs of Table 1 (same key): copied from a Table 1 results file


# beta of "AReLU started as ReLU": sigmoid(-4.6) = 0.0099, so 1 + sigmoid(beta) = 1.0099 ~ 1 above zero,
# and alpha = 0.01 (C's lower bound, where its gradient still passes: formula.py) below: ReLU's shape.
RELU_LIKE_BETA = -4.6
ABLATION_VARIANTS = (
    Variant("arelu", "AReLU", "arelu", {}, description="as in Table 1: alpha 0.9, beta 2 learned", in_table1=True),
    Variant("arelu-frozen", "AReLU frozen", "arelu", {"learn": "none"},
            description="alpha, beta frozen at 0.9, 2: the initial two-slope curve (0.9 / 1.88), nothing learned"),
    Variant("arelu-from-relu", "AReLU started as ReLU", "arelu", {"alpha": 0.01, "beta": RELU_LIKE_BETA},
            description=f"alpha 0.01, beta {RELU_LIKE_BETA:g} (slopes 0.01 / 1.0099), both learned"),
    Variant("relu", "ReLU", "relu", {}, description="as in Table 1", in_table1=True),
    *(Variant(f"relu-lr{k}", f"ReLU, lr x{k}", "relu", {}, float(k), description=f"ReLU at {k} x the setting's lr")
      for k in (2, 4, 8)),
    Variant("arelu-learn-alpha", "AReLU frozen, alpha learned", "arelu", {"learn": "alpha"},
            description="the initial curve with only alpha learned (beta stays 2)"),
    Variant("arelu-learn-beta", "AReLU frozen, beta learned", "arelu", {"learn": "beta"},
            description="the initial curve with only beta learned (alpha stays 0.9)"),
)


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    activations: tuple[str, ...]
    optimizers: tuple[str, ...]
    lrs: tuple[float, ...]
    seeds: tuple[int, ...]
    epochs: int
    inits: tuple[dict, ...] = ({},)
    params_every: int = 0          # steps between alpha/beta snapshots (Fig. 2b's trajectories)
    note: str = ""
    variants: tuple[Variant, ...] = ()   # an ablation: these arms instead of activations x inits

    def runs(self, activations=None, optimizers=None, lrs=None, seeds=None, epochs=None,
             train_subset=None, batch_size: int = 128, variants=None) -> list[TrainConfig]:
        """The grid as validated TrainConfigs, ordered setting by setting, then activation, init, seed
        (what groups well). TrainConfig.validate checks every value, as for any other training. Each
        activation is built as the official code built it (paper.official_code_params: PAU's official form)."""
        if self.variants or variants:
            return [config for _, config in self.variant_runs(variants, optimizers, lrs, seeds, epochs, train_subset,
                                                              batch_size, activations)]
        acts = [self.normalise(a) for a in (activations or self.activations)]
        opts = [str(o).strip().lower() for o in (optimizers or self.optimizers)]
        lr_list = list(lrs or self.lrs)
        seed_list = list(self.seeds if seeds is None else seeds)
        if not (acts and seed_list):
            raise ConfigError("nothing to run: give at least one activation and one seed")
        settings = [(o, lr) for lr in dict.fromkeys(lr_list) for o in dict.fromkeys(opts)]  # the paper's column order
        return [TrainConfig(activation=a, activation_params={**official_code_params(a), **init}, optimizer=o, lr=lr, seed=s,
                            epochs=self.epochs if epochs is None else epochs, batch_size=batch_size,
                            train_subset=train_subset, params_every=self.params_every).validate()
                for o, lr in settings for a in dict.fromkeys(acts) for init in self.inits for s in dict.fromkeys(seed_list)]

    def variant(self, key: str) -> Variant:
        found = next((v for v in self.variants if v.key == str(key).strip().lower()), None)
        if found is None:
            raise ConfigError(f"unknown {self.name} variant {key!r}; choose one of: "
                              f"{', '.join(v.key for v in self.variants) or 'none (this experiment has no variants)'}")
        return found

    def variant_runs(self, variants=None, optimizers=None, lrs=None, seeds=None, epochs=None, train_subset=None,
                     batch_size: int = 128, activations=None) -> list[tuple[dict, TrainConfig]]:
        """An ablation's grid: ({"variant", "setting_lr"}, TrainConfig) per run, setting by setting, then
        variant, seed. A variant's lr is its lr_scale x the setting's. Unknown variant: ConfigError."""
        if activations:
            raise ConfigError(f"{self.name} takes variants (--variants), not activations")
        chosen = [self.variant(v) for v in dict.fromkeys(variants or [v.key for v in self.variants])]
        opts = [str(o).strip().lower() for o in (optimizers or self.optimizers)]
        seed_list = list(self.seeds if seeds is None else seeds)
        if not (chosen and seed_list):
            raise ConfigError("nothing to run: give at least one variant and one seed")
        settings = [(o, lr) for lr in dict.fromkeys(lrs or self.lrs) for o in dict.fromkeys(opts)]
        return [({"variant": v.key, "setting_lr": lr},
                 TrainConfig(activation=v.activation, activation_params=dict(v.params), optimizer=o, lr=lr * v.lr_scale,
                             seed=s, epochs=self.epochs if epochs is None else epochs, batch_size=batch_size,
                             train_subset=train_subset, params_every=self.params_every).validate())
                for o, lr in settings for v in chosen for s in dict.fromkeys(seed_list)]

    def normalise(self, name: str) -> str:
        key, with_elsa = resolve_name(name)      # ConfigError naming the choices
        if self.name == "table4" and not with_elsa:
            with_elsa = True                     # Table 4 is "R + ELSA" for each R named
        return key + (ELSA_SUFFIX if with_elsa else "")


def _experiments() -> dict[str, Experiment]:
    table1 = tuple(paper_activations())
    lrs = (1e-2, 1e-3, 1e-4, 1e-5)
    seeds = (0, 1, 2, 3, 4)
    return {e.name: e for e in (
        Experiment("table1", "Table 1: accuracy after one epoch", table1, PAPER_OPTIMIZERS, lrs, seeds, epochs=1),
        Experiment("fig2", "Figure 2: AReLU from 9 initialisations", ("arelu",), ("sgd",), (1e-3,), (0,),
                   epochs=5, inits=tuple(fig2_inits()), params_every=20,
                   note="The paper does not state Fig. 2's optimizer, lr or epochs: ours are SGD (momentum 0.9), "
                        "lr 1e-3, 5 epochs, one training per initialisation (all configurable)."),
        Experiment("fig3", "Figure 3: accuracy per epoch at small learning rates", table1, ("sgd",), (1e-4, 1e-5),
                   seeds, epochs=5, note="The paper trains 20 epochs; default 5 here (--epochs 20 for the paper's)."),
        Experiment("table4", "Table 4: every activation + ELSA", tuple(a for a in table1 if a != "arelu"),
                   PAPER_OPTIMIZERS, lrs, seeds, epochs=1,
                   note="Published Table 4 is illegible in our copy: compared with our own Table 1 run."),
        # Table 2's grid (activation x seed x three phases) is built and run by table2.run_table2.
        Experiment("table2", "Table 2: transfer learning (MNIST-Conv, source -> target)",
                   tuple(paper_tables()["table2"]["activations"]), ("sgd",), (1e-5,), seeds, epochs=20,
                   note="Pretrain on the source (SGD 1e-2, 5 epochs), fine-tune on the target (SGD 1e-5); "
                        "inputs 3x28x28. The paper's pair is MNIST -> SVHN."),
        Experiment("ablation", "Ablation: is AReLU's speed the learned attention or the initial gain?",
                   tuple(sorted({v.activation for v in ABLATION_VARIANTS})), PAPER_OPTIMIZERS, lrs, seeds, epochs=1,
                   variants=ABLATION_VARIANTS,
                   note="Not in the paper. Table 1's protocol (MNIST-Conv, one epoch, batch 128, 5 seeds); AReLU and "
                        "ReLU are Table 1's own runs (copied from its results file where one is found)."),
    )}


EXPERIMENT_NAMES = ("table1", "fig2", "fig3", "table4", "table2", "ablation")


def get_experiment(name: str) -> Experiment:
    experiments = _experiments()
    key = str(name).strip().lower()
    if key not in experiments:
        raise ConfigError(f"unknown experiment {name!r}; choose one of: {', '.join(EXPERIMENT_NAMES)}")
    return experiments[key]
