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

**Channel units** (``units="channel"``, beyond the paper): ``theta`` has one entry per
channel ``(C,)`` and a channel's ``H x W`` positions share its mask; ``mean(theta)``
is still the kept fraction of units.  A kept channel then constrains every unit of
it in the region, ReLU units inactive at ``z0`` included (``V = -1``: they must stay
inactive), so the indicator takes values in ``{-1, 0, +1}``.

Units whose mask cannot change the output (ReLU units inactive at ``z0``) receive
no gradient from the reconstruction term, so any ``lambda > 0`` drops them; for
ReLU generators the indicator therefore takes values in ``{0, +1}``.

What is optimised in the end is the *hard* objective

.. math::  J(\theta) = \tfrac{1}{P} \lVert f_{L:l+1}(h_0 \odot \mathbb{1}[\theta > p])
           - x_0 \rVert_2^2 + \lambda \, \mathrm{mean}(\mathbb{1}[\theta > p]),

which BerOpt evaluates every ``ber_check`` steps: the loop is ``init`` / ``step`` /
``done`` over :class:`BerOptState` (a step is a block of ``ber_check`` optimiser
steps and one check), run by one ``lax.while_loop`` capped at ``ber_steps``.  It
has converged when the hard mask and ``J`` stayed put for ``ber_window`` steps
(:func:`step`), and returns the iterate with the lowest ``J`` seen at a check.

Defaults (measured in ``docs/beropt.md``): one concrete mask per step at
temperature 0.7, Adam (0.5, 0.9) at learning rate 0.3 held for 400 steps and then
decaying with a time constant of 50 steps, ``theta`` starting at 0.55 just above
``p``.  BerOpt then stops by itself after ~550-800 steps, each costing one
decode's forward and backward pass.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import optax

from . import precision
from .config import EGBASConfig
from .results import BerOptResult


class BerOptState(NamedTuple):
    step: jax.Array          # () int32, optimiser steps taken
    logits: jax.Array        # (D_l,), or (C,) with channel units
    opt_state: Any
    loss: jax.Array          # () mean relaxed loss of the last block of steps
    keep: jax.Array          # (D_l,) bool, the hard mask 1[theta > p] at the last check
    objective: jax.Array     # () hard objective J at the last check
    stable: jax.Array        # () int32, consecutive stable checks
    best_logits: jax.Array   # (D_l,) the logits with the lowest J seen at a check
    best_objective: jax.Array
    converged: jax.Array     # () bool


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


def _batch_of_one(h):
    return jax.tree_util.tree_map(lambda a: a[None], h)


def num_logits(unit_shape, cfg: EGBASConfig) -> int:
    """What BerOpt learns for units of ``unit_shape``: ``D_l`` keep-probabilities, or
    in channel mode one per channel (the last axis; a flat layer's units are its
    channels)."""
    n = 1
    for d in unit_shape:
        n *= d
    return int(unit_shape[-1]) if cfg.units == "channel" else n


def unit_masks(masks, unit_shape, units: str = "element"):
    """Masks ``(S, ...)`` of what BerOpt learns, as masks of the units: per unit,
    ``(S, *unit_shape)`` (from any shape holding one value per unit); per channel
    (``units="channel"``), broadcastable to it as ``(S, 1, ..., 1, C)``: a channel's
    positions share its mask."""
    if units == "channel":
        return masks.reshape((masks.shape[0],) + (1,) * (len(unit_shape) - 1) + (unit_shape[-1],))
    return masks.reshape((masks.shape[0],) + tuple(unit_shape))


def _reconstruction_error(gen, h0, x0, layer, masks_flat, storage="float32", units="element"):
    """Per-mask MSE of the decoded images against ``x0`` (float32); the decoder runs
    on ``storage``'s dtype (see :mod:`gbas_jax.core.precision`).  ``h0`` is the
    query's layer state; only its units are masked (``masks_flat`` ``(S, n)``, per
    unit or per channel: :func:`unit_masks`)."""
    u0 = gen.units(h0)
    hm = gen.with_units(_batch_of_one(h0), u0[None] * unit_masks(masks_flat, u0.shape, units))
    x = precision.cast(gen, storage).decode(precision.cast(hm, storage), layer).astype(jnp.float32)
    return jnp.mean((x - x0[None]) ** 2, axis=tuple(range(1, x.ndim)))


def loss_fn(logits, gen, h0, x0, layer, key, cfg: EGBASConfig):
    r"""The relaxed loss :math:`\mathcal{L}` of one step (``S`` masks); the decoder
    runs on ``cfg.ber_precision``'s storage dtype."""
    masks = sample_masks(logits, key, cfg)
    rec = jnp.mean(_reconstruction_error(gen, h0, x0, layer, masks, cfg.ber_precision, cfg.units))
    return rec + cfg.ber_lambda * jnp.mean(jax.nn.sigmoid(logits))


def loss_and_grad(logits, gen, h0, x0, layer, key, cfg: EGBASConfig):
    """Value and gradient of :func:`loss_fn`, forward and backward passes traced at
    ``cfg.ber_precision`` (the backward is traced inside this call too)."""
    with precision.matmuls(cfg.ber_precision):
        return jax.value_and_grad(loss_fn)(logits, gen, h0, x0, layer, key, cfg)


def hard_objective(gen, h0, x0, layer: int, keep, cfg: EGBASConfig):
    r"""``(J, kept_error)`` of a hard mask ``keep`` ``(D_l,)`` bool:
    :math:`J = \mathrm{MSE}(f_{L:l+1}(h_0 \odot \mathbb{1}[\theta > p]), x_0)
    + \lambda\, \mathrm{mean}(\mathbb{1}[\theta > p])`, the objective that the
    relaxed loss stands in for.  Always in float32 at full precision."""
    dtype = gen.units(h0).dtype
    with precision.exact():
        err = _reconstruction_error(gen, h0, x0, layer, keep.astype(dtype)[None], units=cfg.units)[0]
    return err + cfg.ber_lambda * jnp.mean(keep.astype(dtype)), err


def learning_rate(cfg: EGBASConfig):
    r"""``ber_lr`` for ``ber_lr_hold`` steps, then decaying as
    :math:`\exp(-(t - t_{hold}) / T)` with ``T = ber_lr_decay`` (0: constant).  Its
    own time constants: the cap ``ber_steps`` only stops the loop."""
    if cfg.ber_lr_decay == 0:
        return cfg.ber_lr
    return lambda count: cfg.ber_lr * jnp.exp(-jnp.maximum(count - cfg.ber_lr_hold, 0) / cfg.ber_lr_decay)


def _optimizer(cfg):
    return optax.adam(learning_rate(cfg), b1=cfg.ber_b1, b2=cfg.ber_b2)


def init(h0, x0, gen, layer: int, cfg: EGBASConfig) -> BerOptState:
    logits = jnp.full((num_logits(gen.units(h0).shape, cfg),), _logit(jnp.float32(cfg.ber_init)), jnp.float32)
    keep = jax.nn.sigmoid(logits) > cfg.threshold
    j0, _ = hard_objective(gen, h0, x0, layer, keep, cfg)
    return BerOptState(step=jnp.int32(0), logits=logits, opt_state=_optimizer(cfg).init(logits),
                       loss=jnp.float32(jnp.nan), keep=keep, objective=j0, stable=jnp.int32(0),
                       best_logits=logits, best_objective=j0, converged=jnp.bool_(False))


def checks_needed(cfg: EGBASConfig) -> int:
    """Consecutive stable checks that make BerOpt converged (they span ``ber_window`` steps)."""
    return -(-cfg.ber_window // cfg.ber_check)


def step(state: BerOptState, gen, h0, x0, layer: int, key, cfg: EGBASConfig) -> BerOptState:
    """One block: ``ber_check`` optimiser steps (fewer at the cap), then a check of
    the hard mask.  A check is *stable* when at most ``ber_flip_tol * D_l`` units
    changed side of the threshold since the last check and ``J`` moved by at most
    ``ber_tol`` (relative); BerOpt has converged after ``ber_window`` steps of stable
    checks.  The best ``J`` seen at a check is kept, and returned at the end."""
    opt = _optimizer(cfg)

    def one(t, carry):
        logits, opt_state, total = carry
        loss, grad = loss_and_grad(logits, gen, h0, x0, layer, jax.random.fold_in(key, t), cfg)
        updates, opt_state = opt.update(grad, opt_state, logits)
        return optax.apply_updates(logits, updates), opt_state, total + loss

    n = jnp.minimum(cfg.ber_check, cfg.ber_steps - state.step)
    logits, opt_state, total = jax.lax.fori_loop(
        state.step, state.step + n, one, (state.logits, state.opt_state, jnp.float32(0.0)))
    keep = jax.nn.sigmoid(logits) > cfg.threshold
    j, _ = hard_objective(gen, h0, x0, layer, keep, cfg)
    flips = jnp.sum(keep != state.keep)
    stable = (flips <= cfg.ber_flip_tol * keep.size) & \
        (jnp.abs(j - state.objective) <= cfg.ber_tol * jnp.maximum(jnp.abs(state.objective), 1e-12))
    count = jnp.where(stable, state.stable + 1, 0)
    better = j < state.best_objective
    return BerOptState(step=state.step + n, logits=logits, opt_state=opt_state, loss=total / n, keep=keep,
                       objective=j, stable=count,
                       best_logits=jnp.where(better, logits, state.best_logits),
                       best_objective=jnp.where(better, j, state.best_objective),
                       converged=(count >= checks_needed(cfg)) & (cfg.ber_tol > 0))


def done(state: BerOptState, cfg: EGBASConfig) -> jax.Array:
    return state.converged | (state.step >= cfg.ber_steps)


def optimise(gen, z0, layer: int, cfg: EGBASConfig, key) -> BerOptResult:
    """The whole BerOpt loop for one query ``(Dz,)`` (traceable, no input checks)."""
    with precision.exact():
        h0 = jax.tree_util.tree_map(lambda a: a[0], gen.features(z0[None], layer))
        x0 = gen.decode(_batch_of_one(h0), layer)[0]
    final = jax.lax.while_loop(
        lambda s: ~done(s, cfg),
        lambda s: step(s, gen, h0, x0, layer, key, cfg),
        init(h0, x0, gen, layer, cfg))
    theta = jax.nn.sigmoid(final.best_logits)
    j, kept_error = hard_objective(gen, h0, x0, layer, theta > cfg.threshold, cfg)
    return BerOptResult(theta=theta, loss=final.loss, steps=final.step, converged=final.converged,
                        kept_error=kept_error, objective=j)
