"""What BerOpt kept, saved and drawn (gbas_jax/apps/kept_units.py): theta.npy and
indicator.npy read back give a region holding every saved sample; the record's
layer shape and per-channel counts agree with the indicator; the kept / dropped
decodes agree with BerOpt's own kept-unit error."""

from __future__ import annotations

import json

import jax.numpy as jnp
import numpy as np
import pytest

import gbas_jax as gb
from gbas_jax.apps import kept_units
from gbas_jax.cli import main

from conftest import CLI_FAST

pytestmark = pytest.mark.fast


def test_saved_boundaries_read_back(tmp_path):
    out = tmp_path / "s"
    assert main(["sample", "--layer", "2", "--out", str(out), *CLI_FAST]) == 0
    rec = json.loads((out / "record.json").read_text())
    theta, V = np.load(out / "theta.npy"), np.load(out / "indicator.npy")
    gen = gb.load_pretrained("dcgan-mnist")
    assert V.dtype == np.int8 and V.shape == theta.shape == (gen.layer_size(2),)
    assert rec["layer_shape"] == list(gen.layer_shape(2))
    assert int(np.count_nonzero(V)) == rec["counts"]["kept_boundaries"] == sum(rec["kept_per_channel"])
    per_channel = (V.reshape(rec["layer_shape"]) != 0).sum(axis=(0, 1))
    assert rec["kept_per_channel"] == per_channel.tolist()
    # the region of the saved indicator holds every saved sample; the query's own signs
    samples = jnp.asarray(np.load(out / "egbas_samples.npy"))
    assert bool(np.all(gb.in_region(gen, samples, 2, jnp.asarray(V))))
    signs = np.sign(np.asarray(gen.boundary(jnp.asarray(np.load(out / "query.npy"))[None], 2)[0]))
    assert np.array_equal(V[V != 0], signs[V != 0].astype(np.int8))
    assert np.isclose(rec["held"]["kept_error"], rec["kept_error"], rtol=1e-4, atol=1e-7)
    assert rec["held"]["dropped_error"] > 10 * rec["held"]["kept_error"]
    assert (out / "boundaries.png").stat().st_size > 10_000


def test_flat_layer_figure(tmp_path):
    import jax
    from gbas_jax.models.registry import make_generator
    from gbas_jax.models.sequential import SequentialGenerator, op_tuple
    ops = [{"op": "linear", "out": 8, "bias": True}, {"op": "relu"}, {"op": "linear", "out": 16, "bias": True},
           {"op": "reshape", "shape": [1, 4, 4]}, {"op": "tanh"}]
    module = SequentialGenerator(latent_dim=3, ops=tuple(op_tuple(o) for o in ops))
    gen = make_generator(module, module.init(jax.random.key(0), jnp.zeros((1, 3))))
    assert gen.layer_shape(1) == (8,)
    V = np.zeros(8, np.int8)
    V[:3] = 1
    held = kept_units.held(gen, 1, np.full(3, 0.3, np.float32), V)
    info = kept_units.figure(held, V, gen.layer_shape(1), 1, str(tmp_path / "b.png"))
    assert info["kept"] == 3 and info["units"] == 8 and (tmp_path / "b.png").stat().st_size > 5_000
    rec = kept_units.layer_record(gen, 1, V)
    assert rec["layer_shape"] == [8] and "kept_per_channel" not in rec
