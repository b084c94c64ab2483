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

# Every compiled program goes to the same per-user cache folder as the commands'
# (above), so that test processes share them: the parallel workers of one run
# (pytest-xdist, the README's command) and the subprocesses of the slow tier.
jax.config.update("jax_compilation_cache_dir", os.environ["GBAS_JAX_CACHE_DIR"])
jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)

# -- test tiers ---------------------------------------------------------------------
#
# Every test names its tier: ``pytest.mark.fast`` (a module's ``pytestmark``, say),
# ``pytest.mark.slow`` (slow wins over fast) or ``pytest.mark.peers`` (wins over both).  The fast tier is the README's
# test command and touches every module and command; the slow tier holds the
# subprocess and multi-process runs, the benchmark smoke runs and the long property
# and agreement sweeps.  ``--tier all`` runs both, ``--tier slow`` only the slow one
# (``.ci/run`` runs the fast tier, then the slow one).  Tests outside the chosen tier
# are deselected, not skipped.  The peers tier (``--tier peers``) holds checks that need
# other projects' sources on disk (NVIDIA's code may not be shipped or fetched at run
# time): it is run by hand with their paths in the environment, never by ``all`` or CI,
# and a missing path there is an error, not a skip.

TIERS = ("fast", "slow", "peers")


def pytest_addoption(parser):
    parser.addoption("--tier", choices=("fast", "slow", "all", "peers"), default="fast",
                     help="which tests to run: the fast tier (default, the README's command), the slow tier, "
                          "all (fast and slow), or the peers tier (needs the peers' sources)")


def pytest_configure(config):
    config.addinivalue_line("markers", "fast: the fast tier (the README's test command)")
    config.addinivalue_line("markers", "slow: the slow tier (pytest --tier slow, or --tier all)")
    config.addinivalue_line("markers", "peers: checks against other projects' sources (pytest --tier peers)")


def tier_of(item) -> str:
    if item.get_closest_marker("peers"):
        return "peers"
    if item.get_closest_marker("slow"):
        return "slow"
    return "fast" if item.get_closest_marker("fast") else ""


def pytest_collection_modifyitems(config, items):
    untiered = [item.nodeid for item in items if not tier_of(item)]
    if untiered:
        raise pytest.UsageError("tests without a tier (mark them pytest.mark.fast, slow or peers): "
                                + ", ".join(untiered[:10]))
    wanted = config.getoption("--tier")
    chosen = ("fast", "slow") if wanted == "all" else (wanted,)
    keep = [item for item in items if tier_of(item) in chosen]
    dropped = [item for item in items if tier_of(item) not in chosen]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = keep


# Small architectures keep compile and run times low on 2 CPU cores.
SMALL = dict(latent_dim=8, image_size=28, channels=1, widths=(16, 8, 8, 8))


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


#: The E-GBAS flags of the command-line tests: one small setting for every command on
#: dcgan-mnist (at layer 2), so that they share their compiled programs.
CLI_FAST = ["--capacity", "48", "--proposals", "16", "--ber-steps", "100", "--ber-window", "50", "--no-progress"]
#: The same as an EGBASConfig.
CLI_FAST_CFG = gb.EGBASConfig(capacity=48, proposals=16, ber_steps=100, ber_window=50)


def z_query(seed, dim):
    return np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
