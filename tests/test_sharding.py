"""egbas_batch sharded over 8 (simulated) CPU devices. The device count is fixed when
JAX starts, so the check runs in a subprocess with the XLA flag set."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent("""
    import json
    import jax, numpy as np
    import gbas_jax as gb
    gen = gb.models.dcgan(key=jax.random.key(0), latent_dim=8, image_size=28, widths=(16, 8, 8, 8))
    cfg = gb.EGBASConfig(ber_steps=60, ber_check=10, ber_window=20, capacity=64, proposals=16,
                         max_iterations=200, step_size=0.2, interval=1.5, reject_capacity=128, ber_lambda=0.01)
    z0s = np.random.default_rng(0).standard_normal((8, 8)).astype(np.float32)
    key = jax.random.key(3)
    one = gb.egbas_batch(gen, z0s, 2, cfg, key=key, mesh=gb.query_mesh(jax.devices()[:1]))
    many = gb.egbas_batch(gen, z0s, 2, cfg, key=key)
    odd = gb.egbas_batch(gen, z0s[:5], 2, cfg, key=key)
    odd_one = gb.egbas_batch(gen, z0s[:5], 2, cfg, key=key, mesh=gb.query_mesh(jax.devices()[:1]))
    single = gb.egbas(gen, z0s[6], 2, cfg, key=jax.random.split(key, 8)[6])
    print(json.dumps({
        "devices": jax.device_count(),
        "spec": str(many.tree.samples.sharding.spec),
        "shard_rows": sorted({s.data.shape[0] for s in many.tree.samples.addressable_shards}),
        "shard_devices": len({s.device for s in many.tree.samples.addressable_shards}),
        "indicator_equal": bool(np.array_equal(np.asarray(one.indicator), np.asarray(many.indicator))),
        "samples_max_diff": float(np.abs(np.asarray(one.tree.samples) - np.asarray(many.tree.samples)).max()),
        "num_samples_equal": bool(np.array_equal(np.asarray(one.tree.num_samples), np.asarray(many.tree.num_samples))),
        "odd_shape": list(odd.tree.samples.shape),
        "odd_indicator_equal": bool(np.array_equal(np.asarray(odd.indicator), np.asarray(odd_one.indicator))),
        "odd_samples_max_diff": float(np.abs(np.asarray(odd.tree.samples) - np.asarray(odd_one.tree.samples)).max()),
        "row6_matches_single": bool(np.array_equal(np.asarray(many.indicator[6]), np.asarray(single.indicator))),
    }))
""")


@pytest.fixture(scope="module")
def report():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=8", JAX_PLATFORMS="cpu")
    out = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_query_axis_is_sharded(report):
    assert report["devices"] == 8
    assert report["spec"] in ("PartitionSpec('queries',)", "P('queries',)")
    assert report["shard_rows"] == [1] and report["shard_devices"] == 8


def test_sharded_equals_unsharded(report):
    assert report["indicator_equal"] and report["num_samples_equal"]
    assert report["samples_max_diff"] < 1e-5
    assert report["row6_matches_single"]


def test_uneven_batch_is_padded_and_trimmed(report):
    assert report["odd_shape"] == [5, 64, 8]
    assert report["odd_indicator_equal"] and report["odd_samples_max_diff"] < 1e-5
