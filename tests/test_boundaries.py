"""gbas_jax.apps.boundaries: the boundary maps of a 2-D model against a direct
computation, and the ``boundaries`` command."""

import json

import jax
import numpy as np
import pytest

import gbas_jax as gb
from gbas_jax.apps.boundaries import boundary_maps
from gbas_jax.cli import main

pytestmark = pytest.mark.fast


def test_maps_count_sign_changes_and_the_region():
    gen = gb.load_pretrained("dcgan-mnist-2d")
    layer, res, extent = 1, 12, 1.0
    z0 = np.array([0.3, -0.2], np.float32)
    a0 = np.asarray(gen.boundary(z0[None], layer))[0]
    rng = np.random.default_rng(0)
    V = np.where(rng.uniform(size=a0.shape) < 0.3, np.sign(a0), 0).astype(np.int8)
    (all_b, kept_b, inside), ext = boundary_maps(gen, z0, layer, V, extent, res)
    xs = np.linspace(z0[0] - extent, z0[0] + extent, res, dtype=np.float32)
    ys = np.linspace(z0[1] + extent, z0[1] - extent, res + 1, dtype=np.float32)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1)                        # (res + 1, res, 2)
    a = np.asarray(gen.boundary(grid.reshape(-1, 2), layer)).reshape(res + 1, res, -1)
    s = a > 0
    right = np.zeros_like(s)
    right[:, :-1] = s[:, 1:] != s[:, :-1]
    edge = right[:-1] | (s[1:] != s[:-1])
    np.testing.assert_array_equal(all_b, edge.sum(-1))
    np.testing.assert_array_equal(kept_b, (edge & (V != 0)).sum(-1))
    slack = np.min(np.where(V != 0, V * a[:-1], np.inf), axis=-1)
    np.testing.assert_array_equal(inside, slack >= 0)
    assert ext == (xs[0], xs[-1], ys[res - 1], ys[0])
    assert all_b.sum() > 0 and kept_b.sum() <= all_b.sum()


def test_a_model_without_a_2d_latent_is_refused(small_gen):
    with pytest.raises(ValueError, match="2-D latent"):
        boundary_maps(small_gen, np.zeros(small_gen.latent_dim, np.float32), 1,
                      np.zeros(small_gen.layer_size(1), np.int8))


def test_the_command_writes_the_picture_and_the_record(tmp_path, capsys):
    out = tmp_path / "b"
    # the settings Figure 4 of ``reproduce`` runs with in the command-line tests (tests/test_reproduce.py)
    assert main(["boundaries", "--out", str(out), "--resolution", "24", "--capacity", "96", "--ber-steps", "100",
                 "--ber-window", "50", "--no-progress", "--allow-incomplete"]) == 0
    rec = json.loads((out / "record.json").read_text())
    assert sorted(rec["files"]) == ["boundaries.png", "egbas_samples.npy", "record.json"]
    samples = np.load(out / "egbas_samples.npy")
    assert samples.shape == (rec["samples"], 2) and rec["resolution"] == 24
    np.testing.assert_array_equal(samples[0], gb.query_latents(2, 0))
    assert 0 < rec["region_fraction_of_view"] <= 1 and rec["kept_boundaries"] <= rec["units"]
    # the samples are in the region of the indicator E-GBAS found (recomputed from the same key)
    gen = gb.load_pretrained("dcgan-mnist-2d")
    cfg = gb.EGBASConfig(**{k: tuple(v) if isinstance(v, list) else v for k, v in rec["config"].items()})
    res = gb.egbas(gen, samples[0], 1, cfg, key=jax.random.key(0))
    np.testing.assert_array_equal(res.tree.accepted(), samples)
    assert "kept boundaries" in capsys.readouterr().out
