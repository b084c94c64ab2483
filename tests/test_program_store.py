"""gbas_jax.runtime.program_store: traced programs kept between processes: same
results bit for bit, no trace on a stored program, damaged entries replaced,
unkeyable models left on the plain path."""

import jax
import numpy as np
import pytest

import gbas_jax as gb
from gbas_jax.io.cache import FolderProgramStore
from gbas_jax.runtime import program_store

from conftest import z_query

pytestmark = pytest.mark.fast


class DictStore:
    def __init__(self):
        self.data, self.puts = {}, 0

    def get(self, key):
        return self.data.get(key)

    def put(self, key, data):
        self.data[key] = data
        self.puts += 1


@pytest.fixture
def store():
    s = DictStore()
    program_store.set_program_store(s)
    yield s
    program_store.set_program_store(None)


def leaves_equal(a, b):
    la, lb = jax.tree_util.tree_leaves(a), jax.tree_util.tree_leaves(b)
    return len(la) == len(lb) and all(np.array_equal(np.asarray(x), np.asarray(y)) for x, y in zip(la, lb))


def run(gen, cfg, seed=0):
    z0 = z_query(seed, gen.latent_dim)
    return jax.block_until_ready(gb.egbas(gen, z0, 2, cfg, key=jax.random.key(seed)))


def test_stored_stages_give_the_plain_results_without_tracing(small_gen, fast_cfg, store):
    cfg = fast_cfg.replace(capacity=37)                       # a config no other test compiles
    program_store.set_program_store(None)
    plain = run(small_gen, cfg)
    program_store.set_program_store(store)
    first = run(small_gen, cfg)                               # traced, exported, stored
    assert store.puts == 2 and len(store.data) == 2
    assert leaves_equal(plain, first)
    program_store.set_program_store(store)                             # forget the loaded programs, as a new process
    before = dict(gb.TRACE_COUNTS)
    second = run(small_gen, cfg)
    assert dict(gb.TRACE_COUNTS) == before                    # nothing traced: both stages came from the store
    assert store.puts == 2
    assert leaves_equal(plain, second)
    other = jax.tree_util.tree_map(lambda p: p * 1.01, small_gen)   # new weights, same shapes
    run(other, cfg, seed=1)
    # BerOpt's stage is the same entry; GB-RRT's depends on the kept sizes, which may change.
    assert gb.TRACE_COUNTS["egbas.stage1"] == before.get("egbas.stage1", 0)


@pytest.mark.slow
def test_a_new_setting_is_a_new_entry(small_gen, fast_cfg, store):
    run(small_gen, fast_cfg.replace(capacity=38))
    run(small_gen, fast_cfg.replace(capacity=39))
    assert len(store.data) == 4


@pytest.mark.slow
def test_damaged_entries_are_replaced(small_gen, fast_cfg, store, tmp_path):
    folder = FolderProgramStore(str(tmp_path / "stages"))
    program_store.set_program_store(folder)
    cfg = fast_cfg.replace(capacity=40)
    good = run(small_gen, cfg)
    files = sorted((tmp_path / "stages").iterdir())
    assert len(files) == 2
    for f in files:
        f.write_bytes(b"not an exported program")
    program_store.set_program_store(folder)
    again = run(small_gen, cfg)
    assert leaves_equal(good, again)
    assert all(f.read_bytes() != b"not an exported program" for f in files)
    assert not [p for p in (tmp_path / "stages").iterdir() if p.name.startswith(".tmp")]


def test_models_without_an_identity_stay_on_the_plain_path(store):
    import jax.numpy as jnp

    model = gb.FunctionalModel(latent_dim=3, pre_activations=(_lin1, _lin2), activations=(_relu, _img))
    gen = gb.Generator(model, {"w1": jnp.ones((3, 4)), "w2": jnp.ones((4, 4))})
    assert program_store.program_key("x", gen, (), ()) is None
    cfg = gb.EGBASConfig(ber_steps=20, ber_check=10, ber_window=10, capacity=16, proposals=8, max_iterations=20)
    gb.egbas(gen, np.ones(3, np.float32), 1, cfg, key=jax.random.key(0))
    assert store.data == {}


def test_key_follows_shapes_statics_and_versions(small_gen):
    z = np.zeros(small_gen.latent_dim, np.float32)
    k = program_store.program_key("s", small_gen, (2,), (z,))
    assert k == program_store.program_key("s", small_gen, (2,), (z + 1,))         # values are not in the key
    assert k != program_store.program_key("s", small_gen, (3,), (z,))
    assert k != program_store.program_key("s", small_gen, (2,), (z[:-1],))
    assert k != program_store.program_key("t", small_gen, (2,), (z,))
    assert len(program_store.source_hash()) == 64


def _lin1(p, h):
    return h @ p["w1"]


def _lin2(p, h):
    return (h @ p["w2"]).reshape(-1, 2, 2, 1)


def _relu(p, a):
    return jax.nn.relu(a)


def _img(p, a):
    return jax.numpy.tanh(a)
