import os
import tempfile

# Commands run in-process turn on the compilation cache: keep it out of the user's
# home (subprocesses inherit this too).  One folder per user in the temporary
# directory, kept between runs as a user's own cache would be (entries are keyed by
# content, so a stale one is never used); a cold folder more than doubles the
# command-line tests' time.  The tests of the cache itself use empty folders.
os.environ.setdefault("GBAS_JAX_CACHE_DIR", os.path.join(tempfile.gettempdir(), f"gbas-jax-test-cache-{os.getuid()}"))

import jax
import numpy as np
import pytest
from hypothesis import settings

# "quick" (for the short GPU check) runs fewer property examples; each compiles anew.
settings.register_profile("default", max_examples=24, deadline=None)
settings.register_profile("quick", max_examples=6, deadline=None)
settings.load_profile(os.environ.get("GBAS_HYPOTHESIS_PROFILE", "default"))

import gbas_jax as gb

# Small architectures keep compile and run times low on 2 CPU cores.
SMALL = dict(latent_dim=8, image_size=28, channels=1, widths=(16, 8, 8, 8))


@pytest.fixture(autouse=True)
def _no_stage_store_left_behind():
    # An in-process command installs the stage store for the process; later tests
    # should see the library's default (none).
    yield
    from gbas_jax.core import stages
    stages.set_stage_store(None)


@pytest.fixture(scope="session")
def small_gen():
    return gb.models.dcgan(key=jax.random.key(0), **SMALL)


@pytest.fixture(scope="session")
def small_disc():
    return gb.models.dcgan_discriminator(key=jax.random.key(1), image_size=28, channels=1,
                                         widths=(8, 8, 16))


@pytest.fixture(scope="session")
def fast_cfg():
    return gb.EGBASConfig(ber_steps=60, ber_check=10, ber_window=20, capacity=64, proposals=16,
                          max_iterations=200, step_size=0.2, interval=1.5, reject_capacity=128)


def z_query(seed, dim):
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
