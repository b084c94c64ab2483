import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from gbas_jax.models.ops import conv2d

pytestmark = pytest.mark.fast

CASES = [  # (size, kernel, stride, padding, lhs_dilation)
    (16, 3, (1, 1), ((1, 1), (1, 1)), (1, 1)),   # 3x3 "extra" conv
    (8, 4, (1, 1), ((2, 2), (2, 2)), (2, 2)),    # transposed conv 4x4 / 2 (PyTorch padding 1)
    (16, 4, (2, 2), ((1, 1), (1, 1)), (1, 1)),   # discriminator conv 4x4 / 2
    (7, 7, (1, 1), ((0, 0), (0, 0)), (1, 1)),    # final valid conv
    (5, 3, (1, 1), ((0, 2), (1, 0)), (3, 3)),    # uneven padding, other dilation
]


@pytest.mark.parametrize("case", CASES)
def test_conv2d_matches_lax_and_its_gradients(case):
    n, ks, stride, padding, dil = case
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.standard_normal((2, n, n, 3)), jnp.float32)
    k = jnp.asarray(rng.standard_normal((ks, ks, 3, 5)), jnp.float32)

    def ref(x, k):
        return lax.conv_general_dilated(x, k, stride, padding, lhs_dilation=dil,
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))

    with jax.default_matmul_precision("highest"):
        y0, vjp0 = jax.vjp(ref, x, k)
        y1, vjp1 = jax.vjp(lambda x, k: conv2d(x, k, stride, padding, dil), x, k)
        dy = jnp.asarray(rng.standard_normal(y0.shape), jnp.float32)
        np.testing.assert_allclose(y1, y0, atol=1e-5)
        for g1, g0 in zip(vjp1(dy), vjp0(dy)):
            np.testing.assert_allclose(g1, g0, rtol=1e-5, atol=1e-4)


def test_both_stride_and_dilation_is_refused():
    x = jnp.ones((1, 4, 4, 1))
    k = jnp.ones((3, 3, 1, 1))
    with pytest.raises(NotImplementedError):
        jax.grad(lambda x: jnp.sum(conv2d(x, k, (2, 2), ((1, 1), (1, 1)), (2, 2))))(x)


# (input size, kernel, stride, padding): DCGAN's 4/2/1 at its sizes, other exact
# multiples, and shapes the sub-pixel form does not take (kernel not a multiple of
# the stride, output not stride x input) which keep the dilated form.
TRANSPOSE_CASES = [(7, 4, 2, 1), (4, 4, 2, 1), (1, 4, 2, 1), (6, 2, 2, 0), (3, 8, 4, 2), (5, 6, 3, 0), (5, 3, 2, 1)]


@pytest.mark.parametrize("case", TRANSPOSE_CASES)
def test_conv_transpose_matches_pytorch_and_the_dilated_form(case):
    torch = pytest.importorskip("torch")
    from gbas_jax.models.ops import _dilated_transpose, conv_transpose, subpixel_applies

    n, size, s, p = case
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, n, n, 3)).astype(np.float32)
    k = rng.standard_normal((size, size, 3, 4)).astype(np.float32)
    m = torch.nn.ConvTranspose2d(3, 4, size, s, p, bias=False)
    m.weight.data = torch.tensor(k[::-1, ::-1].transpose(2, 3, 0, 1).copy())   # the layers' kernel mapping
    with torch.no_grad():
        want = m(torch.tensor(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    with jax.default_matmul_precision("highest"):
        got, vjp = jax.vjp(lambda x, k: conv_transpose(x, k, s, p), x, k)
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
        _, vjp0 = jax.vjp(lambda x, k: _dilated_transpose(x, k, s, p), x, k)
        dy = jnp.asarray(rng.standard_normal(got.shape), jnp.float32)
        for g1, g0 in zip(vjp(dy), vjp0(dy)):
            np.testing.assert_allclose(g1, g0, rtol=1e-5, atol=1e-4)
    assert subpixel_applies(size, s, p) == (case[:3] not in ((5, 6, 3), (5, 3, 2)))
    if subpixel_applies(size, s, p) and jax.default_backend() == "cpu":
        # the sub-pixel branch is the one compiled: no input-dilated convolution left
        compiled = jax.jit(lambda x, k: conv_transpose(x, k, s, p)).lower(x, k).compile().as_text()
        assert "lhs_dilate" not in compiled


@pytest.mark.skipif(jax.default_backend() != "cpu", reason="the sub-pixel forms are the CPU programs")
@pytest.mark.parametrize("n", [1, 4, 7])
def test_subpixel_convolutions_compute_only_the_output(n):
    """Each phase's convolution yields exactly ``n x n`` outputs: no window grid of
    ``(n + 1)^2`` positions whose border is cropped away."""
    import re

    from gbas_jax.models.ops import conv_transpose, upsample_conv

    x = jnp.ones((2, n, n, 3), jnp.float32)
    for fn, k in ((lambda x, k: conv_transpose(x, k, 2, 1), jnp.ones((4, 4, 3, 5), jnp.float32)),
                  (upsample_conv, jnp.ones((3, 3, 3, 5), jnp.float32))):
        text = jax.jit(fn).lower(x, k).compile().as_text()
        shapes = re.findall(r"= f32\[([0-9,]+)\]\S* convolution\(", text)
        assert shapes == [f"2,{n},{n},5"] * 4, shapes


@pytest.mark.parametrize("n", [1, 4, 5])
def test_upsample_conv_matches_upsampling_then_convolving(n):
    from gbas_jax.models.ops import upsample2, upsample_conv

    rng = np.random.default_rng(2)
    x = jnp.asarray(rng.standard_normal((2, n, n, 3)), jnp.float32)
    k = jnp.asarray(rng.standard_normal((3, 3, 3, 4)), jnp.float32)

    def ref(x, k):
        return lax.conv_general_dilated(upsample2(x), k, (1, 1), ((1, 1), (1, 1)),
                                        dimension_numbers=("NHWC", "HWIO", "NHWC"))

    with jax.default_matmul_precision("highest"):
        y0, vjp0 = jax.vjp(ref, x, k)
        y1, vjp1 = jax.vjp(upsample_conv, x, k)
        assert y1.shape == (2, 2 * n, 2 * n, 4)
        np.testing.assert_allclose(y1, y0, rtol=1e-5, atol=1e-5)
        dy = jnp.asarray(rng.standard_normal(y0.shape), jnp.float32)
        for g1, g0 in zip(vjp1(dy), vjp0(dy)):
            np.testing.assert_allclose(g1, g0, rtol=1e-5, atol=1e-4)
    if jax.default_backend() == "cpu":      # the folded form is the one compiled: no 2n x 2n input
        text = jax.jit(upsample_conv).lower(x, k).compile().as_text()
        assert f"f32[2,{2 * n + 2},{2 * n + 2},3]" not in text and f"f32[2,{2 * n},{2 * n},3]" not in text
