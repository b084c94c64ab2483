"""gbas_jax.runtime.compiler: the CPU compiler options reach the library's programs,
and each way of opting out works."""

import jax
import jax.numpy as jnp
import pytest

import gbas_jax as gb
from gbas_jax.runtime import compiler
from gbas_jax.runtime.egbas import GB_RRT

pytestmark = pytest.mark.fast

cpu_only = pytest.mark.skipif(jax.default_backend() != "cpu", reason="the options are CPU options")


def _conv(x, k):
    return jax.lax.conv_general_dilated(x, k, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))


@cpu_only
def test_library_programs_compile_without_ynnpack_fusions():
    assert compiler.options() == {"xla_cpu_experimental_ynn_fusion_type": ""}
    x, k = jnp.ones((2, 14, 14, 8)), jnp.ones((3, 3, 8, 8))
    assert "__ynn_fusion" not in compiler.jit(_conv).lower(x, k).compile().as_text()
    # and a gbas-jax stage: GB-RRT at a 3x3 conv layer of a small DCGAN
    gen = gb.models.dcgan(key=jax.random.key(0), latent_dim=8, image_size=28, widths=(16, 8, 8, 8))
    layer = 3
    z0 = jax.random.normal(jax.random.key(1), (8,))
    V = jnp.zeros((gen.layer_size(layer),), jnp.int8).at[:5].set(1)
    cfg = gb.EGBASConfig(capacity=8, proposals=4, max_iterations=4)
    text = GB_RRT.lower(gen, z0, V, jax.random.key(2), layer=layer, cfg=cfg).compile().as_text()
    assert "convolution(" in text and "__ynn_fusion" not in text


def test_opting_out(monkeypatch):
    monkeypatch.delenv("XLA_FLAGS", raising=False)
    monkeypatch.setenv(compiler.OPT_OUT, "0")
    assert compiler.wanted("cpu") == {"xla_cpu_experimental_ynn_fusion_type": ""}
    assert compiler.wanted("gpu") == {}
    monkeypatch.setenv(compiler.OPT_OUT, "1")
    assert compiler.wanted("cpu") == {} and compiler.options("cpu") == {}
    monkeypatch.delenv(compiler.OPT_OUT)
    monkeypatch.setenv("XLA_FLAGS", "--xla_cpu_experimental_ynn_fusion_type=dot")   # the user's own choice
    assert compiler.wanted("cpu") == {}


@cpu_only
def test_an_option_this_jaxlib_lacks_gives_xla_defaults():
    assert compiler._accepted("cpu", (("xla_cpu_no_such_option_anywhere", ""),)) == {}


def test_jit_wrapper_behaves_as_jax_jit():
    calls = []

    @compiler.jit
    def f(x, n):
        calls.append(1)
        return x * n

    g = compiler.jit(lambda x, n: x + n, static_argnames=("n",))
    assert float(f(jnp.float32(2), 3.0)) == 6.0 and float(f(jnp.float32(4), 3.0)) == 12.0
    assert len(calls) == 1                          # traced once
    assert float(g(jnp.float32(1), n=2)) == 3.0
    assert f.__name__ == "f"
    assert "add" in g.lower(jnp.float32(1), n=2).as_text()
