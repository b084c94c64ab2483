r"""BerOpt (Algorithm 1): Bernoulli dropout masks that find the boundaries that matter.

With :math:`h_0 = f_{l:1}(z_0)`, :math:`x_0 = G(z_0)` and keep-probabilities
:math:`\theta = \sigma(\text{logits}) \in [0, 1]^{D_l}`,

.. math::
    \mathcal{L}(\theta) = \mathbb{E}_{m \sim \mathrm{Ber}(\theta)}
        \Big[ \tfrac{1}{P} \lVert f_{L:l+1}(h_0 \odot m) - x_0 \rVert_2^2 \Big]
        + \lambda \, \tfrac{1}{D_l} \textstyle\sum_i \theta_i ,

``P`` the number of pixel values (``docs/design.md``: squared error averaged over
pixels, so the gradient is finite at zero residual; ``mean(theta)`` so ``lambda``
does not depend on ``D_l``).  The expectation is estimated with ``S`` masks per
step, relaxed either by the binary concrete distribution
:math:`m = \sigma((\text{logits} + \log u - \log(1-u)) / \tau)` or straight-through
(hard :math:`\mathbb{1}[u < \theta]` forward, :math:`\partial\theta` backward).

Units whose mask cannot change the output (ReLU units inactive at ``z0``) receive
no gradient from the reconstruction term, so any ``lambda > 0`` drops them; for
ReLU generators the indicator therefore takes values in ``{0, +1}``.

The optimiser loop is ``init`` / ``step`` / ``done`` over :class:`BerOptState`, run
by one ``lax.while_loop`` capped at ``ber_steps``.  It stops early when the mean
loss of the last ``ber_window`` steps differs from that of the window before by
at most ``ber_tol`` (relative).
"""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from . import tracing, validation
from .config import EGBASConfig, check_config
from .results import BerOptResult


class BerOptState(NamedTuple):
    step: jax.Array        # () int32, steps taken
    logits: jax.Array      # (D_l,)
    opt_state: Any
    losses: jax.Array      # (2 * ber_window,) ring buffer of per-step losses
    converged: jax.Array   # () bool


def _logit(p):
    return jnp.log(p) - jnp.log1p(-p)


def sample_masks(logits, key, cfg: EGBASConfig):
    """``S`` relaxed masks ``(S, D_l)``, differentiable in ``logits``."""

    def one(k):
        u = jax.random.uniform(k, logits.shape, minval=1e-6, maxval=1.0 - 1e-6)
        if cfg.relaxation == "concrete":
            return jax.nn.sigmoid((logits + _logit(u)) / cfg.temperature)
        theta = jax.nn.sigmoid(logits)
        hard = (u < theta).astype(logits.dtype)
        return hard + theta - jax.lax.stop_gradient(theta)

    return jax.vmap(one)(jax.random.split(key, cfg.ber_samples))


def _reconstruction_error(gen, h0, x0, layer, masks_flat):
    hm = h0[None] * masks_flat.reshape((-1,) + h0.shape)
    x = gen.decode(hm, layer)
    return jnp.mean((x - x0[None]) ** 2, axis=tuple(range(1, x.ndim)))


def loss_fn(logits, gen, h0, x0, layer, key, cfg: EGBASConfig):
    masks = sample_masks(logits, key, cfg)
    rec = jnp.mean(_reconstruction_error(gen, h0, x0, layer, masks))
    return rec + cfg.ber_lambda * jnp.mean(jax.nn.sigmoid(logits))


def _optimizer(cfg):
    return optax.adam(cfg.ber_lr)


def init(num_units: int, cfg: EGBASConfig) -> BerOptState:
    d = num_units
    logits = jnp.full((d,), _logit(jnp.float32(cfg.ber_init)), jnp.float32)
    return BerOptState(step=jnp.int32(0), logits=logits, opt_state=_optimizer(cfg).init(logits),
                       losses=jnp.zeros((2 * cfg.ber_window,), jnp.float32), converged=jnp.bool_(False))


def _window_means(losses, t, w):
    idx = jnp.arange(2 * w)
    age = jnp.mod(t - 1 - idx, 2 * w)  # 0 = the last step's slot
    cur = jnp.sum(jnp.where(age < w, losses, 0.0)) / w
    prev = jnp.sum(jnp.where(age >= w, losses, 0.0)) / w
    return cur, prev


def step(state: BerOptState, gen, h0, x0, layer: int, key, cfg: EGBASConfig) -> BerOptState:
    k = jax.random.fold_in(key, state.step)
    loss, grad = jax.value_and_grad(loss_fn)(state.logits, gen, h0, x0, layer, k, cfg)
    updates, opt_state = _optimizer(cfg).update(grad, state.opt_state, state.logits)
    logits = optax.apply_updates(state.logits, updates)
    w = cfg.ber_window
    losses = state.losses.at[jnp.mod(state.step, 2 * w)].set(loss)
    t = state.step + 1
    if cfg.ber_tol > 0:
        cur, prev = _window_means(losses, t, w)
        converged = (t >= 2 * w) & (jnp.abs(cur - prev) <= cfg.ber_tol * jnp.maximum(jnp.abs(prev), 1e-12))
    else:
        converged = jnp.bool_(False)
    return BerOptState(step=t, logits=logits, opt_state=opt_state, losses=losses, converged=converged)


def done(state: BerOptState, cfg: EGBASConfig) -> jax.Array:
    return state.converged | (state.step >= cfg.ber_steps)


def optimise(gen, z0, layer: int, cfg: EGBASConfig, key) -> BerOptResult:
    """The whole BerOpt loop for one query ``(Dz,)`` (traceable, no input checks)."""
    h0 = gen.features(z0[None], layer)[0]
    x0 = gen.decode(h0[None], layer)[0]
    final = jax.lax.while_loop(
        lambda s: ~done(s, cfg),
        lambda s: step(s, gen, h0, x0, layer, key, cfg),
        init(h0.size, cfg))
    theta = jax.nn.sigmoid(final.logits)
    w = cfg.ber_window
    cur, _ = _window_means(final.losses, final.step, w)
    n = jnp.minimum(final.step, w)
    loss = cur * w / jnp.maximum(n, 1)  # the last window may be partial
    keep = (theta > cfg.threshold).astype(h0.dtype)
    kept_error = _reconstruction_error(gen, h0, x0, layer, keep[None])[0]
    return BerOptResult(theta=theta, loss=loss, steps=final.step, converged=final.converged,
                        kept_error=kept_error)


@functools.partial(jax.jit, static_argnames=("layer", "cfg"))
def _ber_opt(gen, z0, layer, cfg, key):
    tracing.traced("ber_opt")
    return optimise(gen, z0, layer, cfg, key)


def ber_opt(gen, z0, layer: int, cfg: EGBASConfig, *, key, full_output: bool = False):
    r"""Optimise the keep-probabilities :math:`\theta^*` of layer ``layer`` for query ``z0``.

    Args:
      gen: a :class:`~gbas_jax.Generator`.
      z0: query latent ``(Dz,)``.
      layer: probe-able layer, ``1 .. gen.num_layers`` (static).
      cfg: :class:`~gbas_jax.EGBASConfig` (static).
      key: PRNG key (keyword-only).
      full_output: return a :class:`BerOptResult` instead of ``theta``.

    Returns:
      ``theta`` ``(D_l,)`` in ``[0, 1]``, or a :class:`BerOptResult`.
    """
    layer = validation.check_layer(gen, layer)
    cfg = check_config(cfg)
    validation.check_latents(gen, z0, batched=False)
    res = _ber_opt(gen, jnp.asarray(z0, jnp.float32), layer, cfg, key)
    return res if full_output else res.theta
