"""gbas_jax.parallel.multihost: the hosts' shares partition the queries, and two
processes on this machine, connected by jax.distributed, each running its share,
give the rows of a one-process run."""

import os
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import gbas_jax as gb
from gbas_jax.apps.sample_many import merge
from gbas_jax.parallel.multihost import host_share

pytestmark = pytest.mark.fast

ARGS = ["--queries", "5", "--layer", "2", "--capacity", "48", "--proposals", "16", "--ber-steps", "40", "--ber-tol", "0"]


@given(q=st.integers(0, 200), n=st.integers(1, 17))
def test_host_share_partitions_the_queries(q, n):
    shares = [host_share(q, p, n) for p in range(n)]
    idx = [i for s in shares for i in range(q)[s]]
    assert idx == list(range(q))
    sizes = [s.stop - s.start for s in shares]
    assert max(sizes) - min(sizes) <= 1


@pytest.mark.slow
def test_two_processes_match_one(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, JAX_PLATFORMS="cpu")
    env.pop("XLA_FLAGS", None)
    procs = [subprocess.Popen([sys.executable, "-m", "gbas_jax.cli", "sample-many", *ARGS, "--out", str(tmp_path),
                               "--coordinator", f"127.0.0.1:{port}", "--num-processes", "2", "--process-id", str(i)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for i in range(2)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err[-2000:]
    rec = merge(str(tmp_path))
    assert rec["queries"] == 5 and rec["processes"] == 2
    merged = np.load(tmp_path / "merged.npz")
    # The same run in this one process.
    gen = gb.load_pretrained("dcgan-mnist")
    cfg = gb.EGBASConfig(capacity=48, proposals=16, ber_steps=40, ber_tol=0.0)
    z0s = np.asarray(jax.random.normal(jax.random.key(0), (5, gen.latent_dim)), np.float32)
    res = gb.egbas_batch_keys(gen, z0s, 2, cfg, jax.random.split(jax.random.key(1), 5))
    np.testing.assert_array_equal(merged["indices"], np.arange(5))
    np.testing.assert_array_equal(merged["indicator"], np.asarray(res.indicator))
    np.testing.assert_array_equal(merged["num_samples"], np.asarray(res.tree.num_samples))
    np.testing.assert_allclose(merged["samples"], np.asarray(res.tree.samples), atol=1e-5)
