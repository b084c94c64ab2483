import json

import jax
import numpy as np
import pytest

import gbas_jax as gb
from gbas_jax.apps import presets
from gbas_jax.apps.train import TrainConfig, load_mnist, train, train_and_save
from gbas_jax.cli import main

pytestmark = pytest.mark.fast

TINY = TrainConfig(latent_dim=4, widths=(8, 4, 4, 4), disc_widths=(4, 4, 8), steps=3, batch_size=8, n_critic=2)


@pytest.mark.slow
def test_mnist_data():
    x = load_mnist(28)
    assert x.shape == (5000, 28, 28, 1) and x.min() == -1.0 and x.max() == 1.0
    assert load_mnist(32).shape == (5000, 32, 32, 1)


@pytest.mark.slow
def test_training_steps_update_everything():
    data = np.random.default_rng(0).uniform(-1, 1, (32, 28, 28, 1)).astype(np.float32)
    state, log = train(TINY, data=data, progress=False)
    assert int(state.step) == 3
    assert all(np.isfinite(v) for _, v in log["wasserstein"] + log["gp"] + log["g_loss"])
    # BatchNorm running statistics moved away from their initial values.
    var = state.g_vars["batch_stats"]["norms_0"]["var"]
    assert not np.allclose(np.asarray(var), 1.0)


def test_train_and_save_roundtrip(tmp_path, monkeypatch, capsys):
    """Through the command line (a tiny preset on fake digits), then the library."""
    data = np.random.default_rng(0).uniform(-1, 1, (32, 28, 28, 1)).astype(np.float32)
    monkeypatch.setattr("gbas_jax.apps.train.load_mnist", lambda size: data)
    monkeypatch.setitem(presets.TRAIN, "tiny-test", TINY)
    assert main(["train", "--preset", "tiny-test", "--out", str(tmp_path / "m"), "--no-progress", "--json"]) == 0
    rec = json.loads((tmp_path / "m" / "architecture.json").read_text())
    assert rec["training"]["config"]["steps"] == 3 and rec["training"]["command"].startswith("gbas-jax train")
    assert "wrote" in capsys.readouterr().out
    gen = gb.load_pretrained(str(tmp_path / "m"))
    disc = gb.load_discriminator(str(tmp_path / "m"))
    z = jax.random.normal(jax.random.key(0), (2, 4))
    assert gen.generate(z).shape == (2, 28, 28, 1) and disc(gen.generate(z)).shape == (2,)
    with pytest.raises(ValueError, match="holds a gbas-jax model folder; pass overwrite=True"):
        train_and_save(TINY, str(tmp_path / "m"), progress=False)


def test_bad_train_settings():
    with pytest.raises(ValueError):
        TrainConfig(steps=0)
    with pytest.raises(ValueError):
        TrainConfig(widths=(8,))
