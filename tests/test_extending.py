"""An activation registered from outside the package (tests/extra_activations.py) is everywhere the
built-in ones are: list_activations(), its rules in create_activation and TrainConfig, the Explore
and Train live menus, and `arelu train` (through $ARELU_PLUGINS, in a fresh process)."""
import importlib
import json

from charts_shown import series_names
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from streamlit.testing.v1 import AppTest

from arelu_core.activations import activation_info, create_activation, list_activations, registry
from arelu_core.errors import ConfigError
from arelu_core.trainer import TrainConfig

TESTS = Path(__file__).resolve().parent
APP = TESTS.parent / "app.py"


@pytest.fixture
def extra(monkeypatch):
    """Register the two extra activations for this test only (the registry is restored afterwards)."""
    monkeypatch.setattr(registry, "_INFO", dict(registry._INFO))
    monkeypatch.setattr(registry, "_ALIASES", dict(registry._ALIASES))
    monkeypatch.syspath_prepend(str(TESTS))
    sys.modules.pop("extra_activations", None)
    registry._count_parameters.cache_clear()
    yield importlib.import_module("extra_activations")
    sys.modules.pop("extra_activations", None)
    registry._count_parameters.cache_clear()


def test_registered_from_outside_with_derived_metadata_and_rules(extra):
    names = list_activations()
    assert names[-2:] == ["softsign", "swishbeta"] and "softsign" not in list_activations(include_extras=False)
    assert type(create_activation("SoftSign")) is torch.nn.Softsign          # torch's own module
    info = activation_info("swishbeta")
    assert info.defaults == {"beta": 1.0} and info.params_per_layer == 1 and info.learnable   # derived
    assert activation_info("softsign").params_per_layer == 0
    x = torch.linspace(-5, 5, 101, dtype=torch.float64)
    np.testing.assert_allclose(create_activation("swishbeta", beta=2.0).double()(x).detach().numpy(),
                               (x / (1 + torch.exp(-2 * x))).numpy(), rtol=1e-12)
    with pytest.raises(ConfigError, match="beta must be > 0"):
        create_activation("swishbeta", beta=0.0)
    with pytest.raises(ConfigError, match="beta"):
        TrainConfig(activation="swishbeta", activation_params={"beta": -1.0}).validate()
    elsa = activation_info("swishbeta+elsa")                                  # ELSA wraps it like any other
    assert elsa.attention and elsa.params_per_layer == 3 and set(elsa.defaults) == {"beta", "alpha", "learn"}


def test_in_the_explore_and_train_live_menus(extra, data_dir, monkeypatch, tmp_path):
    monkeypatch.setenv("ARELU_DATA_DIR", data_dir)
    monkeypatch.setenv("ARELU_RUNS_DIR", str(tmp_path / "runs"))
    at = AppTest.from_file(str(APP), default_timeout=180).run()
    at.switch_page("pages/explore.py").run()
    overlays = at.multiselect(key="explore_overlays")
    assert {"Softsign", "Swish-β"} <= set(overlays.options)           # the menu shows display names
    overlays.set_value(["relu", "softsign", "swishbeta"]).run()
    assert not at.exception and not at.error
    assert {"Softsign", "Swish-β"} <= series_names(at)
    at.switch_page("pages/train_live.py").run()
    assert not at.exception
    assert {"Softsign", "Swish-β", "Swish-β+ELSA"} <= set(at.multiselect(key="train_activations").options)


def test_trainable_from_the_cli_in_a_fresh_process(data_dir):
    env = {**os.environ, "ARELU_PLUGINS": "extra_activations", "ARELU_DATA_DIR": data_dir,
           "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")]))}
    out = subprocess.run([sys.executable, "-m", "arelu_core", "train", "--activation", "swishbeta", "--param",
                          "beta=1.5", "--train-subset", "256", "--device", "cpu", "--json"],
                         capture_output=True, text=True, cwd=TESTS.parent, env=env, timeout=600)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["status"] == "finished" and summary["config"]["activation_params"] == {"beta": 1.5}
    assert [set(layer) for layer in summary["activation_parameters"]] == [{"beta"}] * 3   # learned per layer
