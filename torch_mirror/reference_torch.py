r"""A faithful, sequential PyTorch implementation of E-GBAS (Algorithms 1-3 of the paper).

This is the "as the paper states it" baseline for the benchmarks: plain PyTorch,
eager mode, one thing at a time.  It runs on :class:`torch_mirror.dcgan.TorchDCGAN` or
:class:`torch_mirror.pggan.TorchPGGAN` (weight-for-weight copies of a gbas-jax
DCGAN / PGGAN, :func:`torch_mirror.from_jax`), so it can be checked against the
JAX library on the same weights.

Algorithm 1, BerOpt (:func:`ber_opt`)
    ``theta = sigmoid(logits)``, logits initialised at ``logit(cfg.ber_init)``;
    one ``torch.optim.Adam(lr=cfg.ber_lr)`` step per iteration (PyTorch's Adam
    defaults equal optax's: betas (0.9, 0.999), eps 1e-8 outside the square root),
    gradients by autograd.  The loss is the library's (docs/design.md):
    ``mean_s mean_pixels (decode(h0 * m_s) - G(z0))^2 + lambda * mean(theta)``,
    with ``S = cfg.ber_samples`` masks per step drawn **one at a time in a Python
    loop** (each a batch-1 decode; the S losses are averaged before one backward),
    relaxed by the binary concrete distribution or straight-through.  Early stop
    as in ``gbas_jax.core.beropt``: after ``t >= 2 w`` steps, stop when the mean loss of
    the last ``w`` steps differs from that of the ``w`` before by at most
    ``ber_tol`` (relative); ``ber_tol = 0`` runs ``ber_steps`` steps.

Halfspace indicator (:func:`halfspace_indicator`, Algorithm 3 step 2)
    ``V = 1[theta > p] * sign(a_l(z0))``, int8, in the JAX (NHWC) unit order.

Region test (:func:`in_region`, Definitions 2-3)
    the **whole** layer's pre-activations ``boundary(z, l)`` are computed, then
    ``V_i a_i(z) >= 0`` is checked at the kept units.

Algorithm 2, GB-RRT (:func:`gb_rrt`)
    **one** proposal per iteration in a Python loop: ``u ~ U(z0 - I, z0 + I)``,
    nearest tree node by ``torch.cdist`` over the tree, steer by ``delta``, region
    test of the steered point, then the spacing test against the tree (distance to
    the nearest node ``>= delta (1 - 1e-3)``, docs/design.md: the paper's
    strict ``> delta`` would reject every step, the steered point being exactly
    ``delta`` from its parent) from direct differences.  Region failures go to a
    rejected buffer (first ``M`` stored, all counted).  Stops at capacity ``N``
    or after ``max_iterations`` iterations.

Departures from the JAX library, by necessity:

* One proposal per iteration, so an "iteration" here is one candidate.  To give
  the reference the same candidate budget as the library, its iteration cap
  defaults to ``cfg.max_iterations * cfg.proposals`` (pass ``max_iterations`` to
  override; the paper's Algorithm 2 caps iterations only).
* Random streams differ (``torch.Generator`` vs JAX keys), so trees and thetas
  match the library in distribution and guarantees, not bit for bit.
* Units are enumerated in the JAX order at the interface (theta, V); inside, the
  mask is an NCHW tensor.
"""

from __future__ import annotations

import contextlib
import functools
import math
import time

import numpy as np
import torch

import torch_mirror
from torch_mirror.base import MirrorBase

#: Accept at distance >= delta * (1 - SPACING_RTOL) (same as gbas_jax.core.rrt).
SPACING_RTOL = 1e-3


@contextlib.contextmanager
def tf32(enabled: bool):
    """TensorFloat-32 multiplies and convolutions on or off (CUDA only; a CPU ignores it)."""
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = bool(enabled)
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def at_ber_precision(fn):
    """Run a BerOpt ``fn(net, z0, layer, cfg, ...)`` at the precision gbas-jax gives
    its decoder passes (:mod:`gbas_jax.core.precision`): TF32 for ``ber_precision``
    ``"auto"`` (TF32 on a GPU) and ``"tf32"``, float32 otherwise (no bfloat16 here)."""
    @functools.wraps(fn)
    def wrapped(net, z0, layer, cfg, *args, **kwargs):
        with tf32(getattr(cfg, "ber_precision", "float32") in ("auto", "tf32")):
            return fn(net, z0, layer, cfg, *args, **kwargs)
    return wrapped


def at_float32(fn):
    """Run ``fn`` with TF32 off: every region decision is float32, as in gbas-jax."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        with tf32(False):
            return fn(*args, **kwargs)
    return wrapped


def _logit(p: float) -> float:
    return math.log(p) - math.log1p(-p)


def _sync(device) -> None:
    if torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


# ---------------------------------------------------------------------------
# Algorithm 1: BerOpt
# ---------------------------------------------------------------------------
def _mask(logits: torch.Tensor, cfg, generator: torch.Generator) -> torch.Tensor:
    """One relaxed mask, shape of ``logits``, differentiable in ``logits``."""
    # u in [1e-6, 1 - 1e-6] as in gbas_jax.core.beropt (keeps log(u), log(1-u) finite).
    u = 1e-6 + (1.0 - 2e-6) * torch.rand(logits.shape, generator=generator, device=logits.device)
    if cfg.relaxation == "concrete":
        return torch.sigmoid((logits + torch.log(u) - torch.log1p(-u)) / cfg.temperature)
    theta = torch.sigmoid(logits)
    hard = (u < theta).to(logits.dtype)
    return hard + theta - theta.detach()  # straight-through: hard forward, d theta backward


def masked(net, h0, m):
    """The layer state ``h0`` (batch 1) with its units times the masks ``m`` (batch S)."""
    return net.with_units(h0, net.units(h0) * m)


def hard_objective(net, h0, x0, logits, layer, cfg, decode) -> float:
    """``J``: the MSE of ``decode(h0 * 1[theta > p])`` against ``x0`` plus lambda x
    the kept fraction (no gradient)."""
    with torch.no_grad():
        keep = (torch.sigmoid(logits) > cfg.threshold).to(logits.dtype)
        return float(torch.mean((decode(masked(net, h0, keep[None]), layer) - x0) ** 2)
                     + cfg.ber_lambda * torch.mean(keep))


def window_stop(losses: list, loss: torch.Tensor, t: int, cfg) -> bool:
    """Record step ``t``'s loss and apply the plain BerOpt's loss-window stop.  The
    loss stays a device tensor (no host sync per step); only the stop reads it, and
    only when ``cfg.ber_tol > 0``: converged when the last window's mean moved by at
    most ``ber_tol`` (relative) from the window before."""
    losses.append(loss.detach())
    w = cfg.ber_window
    if cfg.ber_tol <= 0 or t < 2 * w:
        return False
    cur, prev = float(torch.stack(losses[-w:]).mean()), float(torch.stack(losses[-2 * w:-w]).mean())
    return abs(cur - prev) <= cfg.ber_tol * max(abs(prev), 1e-12)


def window_loss(losses: list, w: int) -> float:
    """The mean loss of the last window (``nan`` before any step)."""
    return float(torch.stack(losses[-w:]).mean()) if losses else float("nan")


@at_ber_precision
def ber_opt(net: MirrorBase, z0: torch.Tensor, layer: int, cfg, generator: torch.Generator,
            target: float | None = None, check_every: int = 0) -> dict:
    """Algorithm 1 as a Python loop of Adam steps (PyTorch's Adam, its default betas).

    Args:
      net: the mirror; z0: ``(Dz,)`` tensor; layer: ``1 .. num_layers``;
      cfg: ``gb.EGBASConfig`` (``ber_lr``, ``temperature``, ``ber_samples``,
      ``ber_init``, ``ber_lambda``, ``ber_steps``; ``ber_tol`` > 0 adds the loss-window
      early stop over ``ber_window`` steps); generator: ``torch.Generator``;
      check_every: compute the hard objective ``J`` every so many steps (its time
      counts); target: stop at the first check with ``J <= target``.

    Returns a dict: ``theta`` ``(D_l,)`` numpy in the JAX unit order, ``loss``
    (mean of the last window), ``steps``, ``converged``, ``kept_error`` (MSE of
    ``decode(h0 * 1[theta > p])`` against ``G(z0)``), ``forward_passes`` (decodes
    of one mask each), ``objective`` (the last check's J) and ``reached``.
    """
    with torch.no_grad():
        h0 = net.features(z0[None], layer)           # (1, C, H, W)
        x0 = net.decode(h0, layer)                    # (1, H, W, C)
    u0 = net.units(h0)
    logits = torch.full(u0.shape[1:], _logit(cfg.ber_init), dtype=u0.dtype, device=u0.device,
                        requires_grad=True)
    opt = torch.optim.Adam([logits], lr=cfg.ber_lr)
    w, losses, converged, t = cfg.ber_window, [], False, 0
    objective, reached = float("nan"), False
    while t < cfg.ber_steps and not converged and not reached:
        opt.zero_grad(set_to_none=True)
        rec = 0.0
        for _ in range(cfg.ber_samples):  # one mask at a time (the paper samples m ~ Ber(theta))
            m = _mask(logits, cfg, generator)
            x = net.decode(masked(net, h0, m[None]), layer)
            rec = rec + torch.mean((x - x0) ** 2)
        loss = rec / cfg.ber_samples + cfg.ber_lambda * torch.mean(torch.sigmoid(logits))
        loss.backward()
        opt.step()
        t += 1
        converged = window_stop(losses, loss, t, cfg)
        if check_every and t % check_every == 0:
            objective = hard_objective(net, h0, x0, logits, layer, cfg, net.decode)
            reached = target is not None and objective <= target
    with torch.no_grad():
        theta = torch.sigmoid(logits)
        keep = (theta > cfg.threshold).to(u0.dtype)
        kept_error = float(torch.mean((net.decode(masked(net, h0, keep[None]), layer) - x0) ** 2))
    theta_flat = theta.detach().reshape(-1).cpu()
    return {"theta": net.to_jax_order(theta_flat.numpy(), layer).copy(),
            "loss": window_loss(losses, w),
            "steps": t, "converged": converged, "kept_error": kept_error,
            "forward_passes": t * cfg.ber_samples, "objective": objective, "reached": reached}


# ---------------------------------------------------------------------------
# Halfspace indicator and region test
# ---------------------------------------------------------------------------
@at_float32
def halfspace_indicator(net: MirrorBase, z0: torch.Tensor, layer: int, theta, threshold: float) -> np.ndarray:
    """``V = 1[theta > p] * sign(a_l(z0))``: int8 ``(D_l,)`` in the JAX order
    (``theta`` ``(D_l,)`` in the JAX order)."""
    with torch.no_grad():
        a0 = net.boundary(z0[None], layer)[0].cpu().numpy()
    return np.where(np.asarray(theta) > threshold, np.sign(a0), 0).astype(np.int8)


class Region:
    """The region of an indicator ``V`` (JAX order) at ``layer``: the kept unit
    indices and their signs, precomputed once."""

    def __init__(self, net: MirrorBase, layer: int, V, device="cpu"):
        V = np.asarray(V).astype(np.int64).reshape(-1)
        self.net, self.layer = net, layer
        self.kept = torch.as_tensor(np.flatnonzero(V), device=device)
        self.signs = torch.as_tensor(V[np.flatnonzero(V)], dtype=torch.float32, device=device)

    def contains(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, Dz) -> (B,)`` bool: the full layer's pre-activations, signs
        compared at the kept units (all-true when nothing is kept)."""
        a = self.net.boundary(z, self.layer)                  # (B, D_l), whole layer
        return torch.all(a[:, self.kept] * self.signs >= 0, dim=1)


@at_float32
def in_region(net: MirrorBase, z: torch.Tensor, layer: int, V) -> torch.Tensor:
    """Membership in ``GR_V``: ``(B, Dz) -> (B,)`` bool (``V`` in the JAX order)."""
    with torch.no_grad():
        return Region(net, layer, V, device=z.device).contains(z)


# ---------------------------------------------------------------------------
# Algorithm 2: GB-RRT, one proposal per iteration
# ---------------------------------------------------------------------------
@at_float32
def gb_rrt(net: MirrorBase, z0: torch.Tensor, layer: int, V, cfg, generator: torch.Generator,
           max_iterations: int | None = None) -> dict:
    """Grow the tree one candidate at a time.

    Args:
      z0: ``(Dz,)`` tensor; V: int8 ``(D_l,)`` JAX order; cfg: ``gb.EGBASConfig``
      (capacity N, reject_capacity M, step_size, interval); max_iterations: the
      cap on (single-candidate) iterations, default ``cfg.max_iterations *
      cfg.proposals`` (the library's candidate budget).

    Returns a dict: ``samples`` ``(N, Dz)`` numpy (row 0 is ``z0``, rows beyond
    ``num_samples`` zero), ``parents`` ``(N,)`` int32 (-1 for the root and
    padding), ``num_samples``, ``rejected`` ``(M, Dz)``, ``num_rejected`` (all
    region failures), ``iterations``, ``candidates`` (= iterations), ``accepted``
    (= num_samples - 1), ``too_close`` (in the region but too near the tree),
    ``stop_reason`` ("capacity" / "max_iterations"), ``rejected_overflow``.
    """
    n_cap, m_cap, dz = cfg.capacity, cfg.reject_capacity, z0.shape[-1]
    max_iterations = cfg.max_iterations * cfg.proposals if max_iterations is None else int(max_iterations)
    dev, dt = z0.device, z0.dtype
    half = torch.as_tensor(cfg.interval, dtype=dt, device=dev)
    delta = float(cfg.step_size)
    thr2 = (delta * (1.0 - SPACING_RTOL)) ** 2
    tiny = torch.finfo(dt).tiny
    region = Region(net, layer, V, device=dev)

    samples = torch.zeros((n_cap, dz), dtype=dt, device=dev)
    samples[0] = z0
    parents = np.full((n_cap,), -1, np.int32)
    rejected = torch.zeros((m_cap, dz), dtype=dt, device=dev)
    count, num_rejected, too_close, it = 1, 0, 0, 0
    with torch.no_grad():
        while count < n_cap and it < max_iterations:
            it += 1
            u = z0 + half * (2.0 * torch.rand(dz, generator=generator, dtype=dt, device=dev) - 1.0)
            tree = samples[:count]
            j = int(torch.argmin(torch.cdist(u[None], tree)[0]))   # nearest(Q, u)
            q = tree[j]
            d = u - q
            z_new = q + delta * d / torch.clamp(torch.linalg.vector_norm(d), min=tiny)
            if not bool(region.contains(z_new[None])[0]):
                if num_rejected < m_cap:
                    rejected[num_rejected] = z_new
                num_rejected += 1
                continue
            # Spacing: distance to the nearest tree node, from direct differences
            # (the expansion's cancellation error is of the order of the tolerance).
            if float(torch.min(torch.sum((tree - z_new) ** 2, dim=1))) >= thr2:
                samples[count] = z_new
                parents[count] = j
                count += 1
            else:
                too_close += 1
    return {"samples": samples.cpu().numpy(), "parents": parents, "num_samples": count,
            "rejected": rejected.cpu().numpy(), "num_rejected": num_rejected,
            "iterations": it, "candidates": it, "accepted": count - 1, "too_close": too_close,
            "stop_reason": "capacity" if count >= n_cap else "max_iterations",
            "rejected_overflow": num_rejected > m_cap}


# ---------------------------------------------------------------------------
# Algorithm 3 and the benchmark entry point
# ---------------------------------------------------------------------------
def run(gen_jax, z0, layer: int, cfg, seed: int, V=None, max_iterations: int | None = None,
        device="cpu", net: MirrorBase | None = None, num_threads: int | None = None) -> dict:
    """E-GBAS (Algorithm 3) with this reference: BerOpt, indicator, GB-RRT.

    Args:
      gen_jax: a gbas-jax DCGAN or PGGAN ``Generator`` (mirrored once, not timed);
      z0: numpy ``(Dz,)``; layer: int; cfg: ``gb.EGBASConfig``; seed: int for the
      ``torch.Generator``; V: optional int8 ``(D_l,)`` indicator (JAX order): if
      given, BerOpt is skipped and the tree grows in that region;
      max_iterations: see :func:`gb_rrt`; device: torch device; net: a prebuilt
      mirror to reuse; num_threads: ``torch.set_num_threads`` for the duration of
      the call (restored afterwards; default: leave as is).

    Returns a flat dict: the :func:`gb_rrt` fields, ``indicator``, ``num_kept``,
    ``theta`` / ``ber_loss`` / ``ber_steps`` / ``ber_converged`` / ``kept_error`` /
    ``ber_forward_passes`` (None / 0 when V was given), wall times ``setup_s``
    (mirror), ``ber_s`` (BerOpt + indicator, 0 when V was given), ``rrt_s``
    (GB-RRT), and ``implementation``, ``num_threads``.
    """
    t0 = time.perf_counter()
    net = torch_mirror.from_jax(gen_jax).to(device) if net is None else net
    return _run("reference_torch", ber_opt, gb_rrt, net, time.perf_counter() - t0, z0, layer, cfg, seed,
                V, max_iterations, device, num_threads)


def _run(name, ber_fn, rrt_fn, net, setup_s, z0, layer, cfg, seed, V, max_iterations, device, num_threads):
    """Shared body of the ``run`` entry points (timing of the two stages)."""
    prev_threads = torch.get_num_threads()
    if num_threads is not None:
        torch.set_num_threads(int(num_threads))
    try:
        g = torch.Generator(device=device)
        g.manual_seed(int(seed))
        z0t = torch.tensor(np.asarray(z0, np.float32), device=device)
        out: dict = {"theta": None, "ber_loss": None, "ber_steps": None, "ber_converged": None,
                     "kept_error": None, "ber_forward_passes": 0}
        ber_s = 0.0
        if V is None:
            _sync(device)
            t0 = time.perf_counter()
            ber = ber_fn(net, z0t, layer, cfg, g)
            V = halfspace_indicator(net, z0t, layer, ber["theta"], cfg.threshold)
            _sync(device)
            ber_s = time.perf_counter() - t0
            out.update(theta=ber["theta"], ber_loss=ber["loss"], ber_steps=ber["steps"],
                       ber_converged=ber["converged"], kept_error=ber["kept_error"],
                       ber_forward_passes=ber["forward_passes"])
        V = np.asarray(V).astype(np.int8)
        _sync(device)
        t0 = time.perf_counter()
        tree = rrt_fn(net, z0t, layer, V, cfg, g, max_iterations=max_iterations)
        _sync(device)
        rrt_s = time.perf_counter() - t0
        out.update(tree)
        out.update(indicator=V, num_kept=int(np.count_nonzero(V)), setup_s=setup_s, ber_s=ber_s, rrt_s=rrt_s,
                   implementation=name, num_threads=torch.get_num_threads())
        return out
    finally:
        torch.set_num_threads(prev_threads)


def check_same_region_test(gen_jax, layer: int, V, z, margin: float, net: MirrorBase | None = None) -> dict:
    """Same weights / same region test: compare :func:`in_region` with
    ``gb.in_region`` on the rows of ``z`` (numpy ``(B, Dz)``) whose JAX slack
    ``|gb.region_margin|`` exceeds ``margin`` (points nearer a boundary may
    legitimately differ by float rounding).

    Returns ``{"checked": int, "mismatches": int, "inside": int}``.
    """
    net = torch_mirror.from_jax(gen_jax) if net is None else net
    return _compare_region_test(gen_jax, layer, V, z, margin, lambda zt, V_: in_region(net, zt, layer, V_))


def _compare_region_test(gen_jax, layer, V, z, margin, torch_in_region) -> dict:
    """Shared body of the ``check_same_region_test`` functions."""
    import jax
    import jax.numpy as jnp

    import gbas_jax as gb

    z = np.asarray(z, np.float32)
    V = np.asarray(V, np.int8)
    with jax.default_matmul_precision("highest"):
        slack = np.asarray(gb.region_margin(gen_jax, jnp.asarray(z), layer, jnp.asarray(V)))
        ref = np.asarray(gb.in_region(gen_jax, jnp.asarray(z), layer, jnp.asarray(V)))
    ours = torch_in_region(torch.from_numpy(z), V).numpy()
    far = np.abs(slack) > margin
    return {"checked": int(far.sum()), "mismatches": int(np.sum(ours[far] != ref[far])),
            "inside": int(np.sum(ours[far]))}
