r"""The strongest PyTorch version of the library's *vectorised* E-GBAS, for the benchmarks.

Same algorithm as ``gbas_jax`` (docs/design.md), written the way a
careful PyTorch user would: eager PyTorch, a Python loop per iteration, but every
iteration batched, buffers preallocated, ``torch.inference_mode`` for GB-RRT, and
only the host synchronisation the loop needs (one small transfer per iteration to
decide acceptance and buffer positions).  Runs on
:class:`torch_mirror.dcgan.TorchDCGAN` or :class:`torch_mirror.pggan.TorchPGGAN`,
by default with the eval-mode BatchNorm (a PGGAN's equalised-learning-rate
constants) folded into the linear maps (``fold_bn=True``: same function up to
float rounding, fewer passes over memory) and activations stored physically NHWC
(``channels_last=True``: oneDNN's transposed convolution is ~10% faster there on
CPU, and the pre-activations are then already in the JAX unit order).  Measured and
*not* used, on a 2-core CPU with ``dcgan-mnist`` at layer 2: ``torch.compile`` of
the region test (no gain: the convolution dominates and stays a oneDNN call).
Intra-op threads: the default (2 here) beat 1 thread by ~1.5x for the batched
loop, so ``run`` leaves ``torch.get_num_threads()`` alone unless asked.

BerOpt (Algorithm 1, :func:`ber_opt`)
    the ``S`` masks of a step are drawn as one ``(S, C, H, W)`` tensor and decoded
    in **one batched forward**; loss, relaxations, Adam (``torch.optim.Adam``,
    equal to optax's defaults), initialisation, threshold and the windowed early
    stop are those of ``gbas_jax.core.beropt`` and of :mod:`torch_mirror.reference_torch`.

GB-RRT (Algorithm 2, :func:`gb_rrt`), per iteration
    1. ``K`` proposals ``u ~ U(z0 - I, z0 + I)`` (one ``torch.rand`` into a
       preallocated buffer);
    2. nearest tree node of each by one matrix product (``|s|^2 - 2 u.s``, node
       norms cached), steering by ``delta``;
    3. one batched membership test: the pre-activations of the whole layer for the
       ``K`` steered points, multiplied by the indicator in the memory order of
       the activations (no permute of the network output), ``min >= 0`` (a unit
       with ``V = 0`` contributes ``0``);
    4. spacing: distance to the nearest tree node ``>= delta (1 - 1e-3)``; computed
       by the expansion ``|z|^2 - 2 z.s + |s|^2`` on coordinates centred at ``z0``
       (small norms, small cancellation error), and rows whose expanded distance
       lies within a worst-case float32 error bound of the threshold are recomputed
       from direct differences, so every decision equals the direct-difference one;
       then the greedy in-batch rule of ``gbas_jax.core.rrt._greedy_accept``
       (candidate ``k`` accepted when in the region, far from the tree and far
       from every candidate accepted before it in the batch), on the host over the
       few candidates that qualify;
    5. append to the ``N``-node buffer (parents, cached norms) and the first ``M``
       region failures to the rejected buffer.
    Stops at capacity or after ``cfg.max_iterations`` iterations (``K`` candidates
    each), as the library.

The tree is kept in coordinates relative to ``z0`` (``o = z - z0``); the points
tested by the network are ``z0 + o`` and the returned samples are exactly those
(the same float32 addition), so every returned sample is one that passed the test.
"""

from __future__ import annotations

import time

import numpy as np
import torch

from .reference_torch import (SPACING_RTOL, _compare_region_test, _logit, _run, at_ber_precision, at_float32,
                              hard_objective, masked, window_loss, window_stop)
import torch_mirror
from torch_mirror.base import MirrorBase


# ---------------------------------------------------------------------------
# BerOpt, S masks in one forward
# ---------------------------------------------------------------------------
def relaxed_loss(net: MirrorBase, h0, x0, logits, u, layer: int, cfg, generator: torch.Generator):
    """One step's relaxed BerOpt loss over ``S`` masks in one forward: draws ``u``
    (``(S, *units)``, filled in place) into ``[1e-6, 1 - 1e-6]`` as the library does,
    builds concrete or straight-through masks from ``logits`` and returns
    ``mean((decode(h0 * m) - x0)^2) + lambda * mean(sigmoid(logits))``."""
    concrete = cfg.relaxation == "concrete"
    with torch.no_grad():
        torch.rand(u.shape, generator=generator, out=u)
        u.mul_(1.0 - 2e-6).add_(1e-6)
        if concrete:
            noise = torch.log(u) - torch.log1p(-u)           # logistic noise, no gradient needed
    if concrete:
        m = torch.sigmoid((logits + noise) / cfg.temperature)
    else:
        theta = torch.sigmoid(logits)
        m = (u < theta).to(u.dtype) + theta - theta.detach()
    x = net.decode_nchw(masked(net, h0, m), layer)           # (S, C', H', W'), one forward
    return torch.mean((x - x0) ** 2) + cfg.ber_lambda * torch.mean(torch.sigmoid(logits))


@at_ber_precision
def ber_opt(net: MirrorBase, z0: torch.Tensor, layer: int, cfg, generator: torch.Generator,
            target: float | None = None, check_every: int = 0) -> dict:
    """Algorithm 1 with the ``S`` masks of a step batched.

    Args: net, z0 ``(Dz,)``, layer, cfg ``gb.EGBASConfig``, generator ``torch.Generator``;
    ``check_every`` / ``target``: as :func:`torch_mirror.reference_torch.ber_opt`.

    Returns a dict: ``theta`` ``(D_l,)`` numpy (JAX order), ``loss``, ``steps``,
    ``converged``, ``kept_error``, ``forward_passes`` (batched decodes, one per step),
    ``objective``, ``reached``.
    """
    S, w = cfg.ber_samples, cfg.ber_window
    with torch.no_grad():
        h0 = net.features(z0[None], layer)                  # (1, C, H, W)
        x0 = net.decode_nchw(h0, layer)                       # (1, C', H', W')
    u0 = net.units(h0)
    logits = torch.full(u0.shape[1:], _logit(cfg.ber_init), dtype=u0.dtype, device=u0.device,
                        requires_grad=True)
    opt = torch.optim.Adam([logits], lr=cfg.ber_lr)
    u = torch.empty((S,) + tuple(u0.shape[1:]), dtype=u0.dtype, device=u0.device)
    losses, converged, t = [], False, 0
    objective, reached = float("nan"), False
    while t < cfg.ber_steps and not converged and not reached:
        opt.zero_grad(set_to_none=True)
        # the mean over masks of the per-mask MSE, plus the sparsity term
        loss = relaxed_loss(net, h0, x0, logits, u, layer, cfg, generator)
        loss.backward()
        opt.step()
        t += 1
        converged = window_stop(losses, loss, t, cfg)
        if check_every and t % check_every == 0:
            objective = hard_objective(net, h0, x0, logits, layer, cfg, net.decode_nchw)
            reached = target is not None and objective <= target
    with torch.no_grad():
        theta = torch.sigmoid(logits)
        keep = (theta > cfg.threshold).to(u0.dtype)
        kept_error = float(torch.mean((net.decode_nchw(masked(net, h0, keep[None]), layer) - x0) ** 2))
    return {"theta": net.to_jax_order(theta.detach().reshape(-1).cpu().numpy(), layer).copy(),
            "loss": window_loss(losses, w), "steps": t,
            "converged": bool(converged), "kept_error": kept_error, "forward_passes": t,
            "objective": objective, "reached": reached}


@at_ber_precision
def ber_opt_library(net: MirrorBase, z0: torch.Tensor, layer: int, cfg, generator: torch.Generator,
                    target: float | None = None, check_every: int = 0) -> dict:
    """The library's BerOpt (:mod:`gbas_jax.core.beropt`) in PyTorch, step for step:
    Adam with ``(ber_b1, ber_b2)``, the learning rate held at ``ber_lr`` for
    ``ber_lr_hold`` steps then decaying as ``exp(-(t - hold) / ber_lr_decay)``
    (optax's schedule counts the updates already made), ``S`` masks in one forward,
    and every ``ber_check`` steps a check of the hard mask: stable when at most
    ``ber_flip_tol * n`` units crossed the threshold and ``J`` moved by at most
    ``ber_tol`` (relative); converged after ``ceil(ber_window / ber_check)`` stable
    checks in a row; the iterate with the lowest ``J`` at a check is returned.
    The loss stays on the device between checks (no per-step host sync: the
    algorithm reads it only as the last block's mean).  ``check_every`` /
    ``target``: stop at the first check with ``J <= target`` (checks are every
    ``ber_check`` steps; ``check_every`` is accepted for the common signature)."""
    del check_every
    S = cfg.ber_samples
    with torch.no_grad():
        h0 = net.features(z0[None], layer)
        x0 = net.decode_nchw(h0, layer)
    u0 = net.units(h0)
    logits = torch.full(u0.shape[1:], _logit(cfg.ber_init), dtype=u0.dtype, device=u0.device,
                        requires_grad=True)
    opt = torch.optim.Adam([logits], lr=cfg.ber_lr, betas=(cfg.ber_b1, cfg.ber_b2))

    def lr_at(count):
        if cfg.ber_lr_decay == 0:
            return cfg.ber_lr
        return cfg.ber_lr * float(np.exp(-max(count - cfg.ber_lr_hold, 0) / cfg.ber_lr_decay))

    def objective_of(keep):
        with torch.no_grad():
            err = torch.mean((net.decode_nchw(masked(net, h0, keep.to(u0.dtype)[None]), layer) - x0) ** 2)
            return float(err + cfg.ber_lambda * torch.mean(keep.to(u0.dtype)))

    u = torch.empty((S,) + tuple(u0.shape[1:]), dtype=u0.dtype, device=u0.device)
    keep = torch.sigmoid(logits.detach()) > cfg.threshold
    objective = objective_of(keep)
    best_objective, best_logits = objective, logits.detach().clone()
    stable, converged, reached, t = 0, False, False, 0
    needed = -(-cfg.ber_window // cfg.ber_check)
    block_loss = torch.zeros((), dtype=u0.dtype, device=u0.device)
    last_loss = float("nan")
    while t < cfg.ber_steps and not converged and not reached:
        n = min(cfg.ber_check, cfg.ber_steps - t)
        block_loss.zero_()
        for _ in range(n):
            for group in opt.param_groups:
                group["lr"] = lr_at(t)
            opt.zero_grad(set_to_none=True)
            loss = relaxed_loss(net, h0, x0, logits, u, layer, cfg, generator)
            loss.backward()
            opt.step()
            block_loss += loss.detach()
            t += 1
        new_keep = torch.sigmoid(logits.detach()) > cfg.threshold
        j = objective_of(new_keep)                               # the check's sync
        flips = int(torch.sum(new_keep != keep))
        ok = flips <= cfg.ber_flip_tol * new_keep.numel() and abs(j - objective) <= cfg.ber_tol * max(
            abs(objective), 1e-12)
        stable = stable + 1 if ok else 0
        keep, objective = new_keep, j
        last_loss = float(block_loss) / n
        if j < best_objective:
            best_objective, best_logits = j, logits.detach().clone()
        converged = stable >= needed and cfg.ber_tol > 0
        reached = target is not None and j <= target
    with torch.no_grad():
        theta = torch.sigmoid(best_logits)
        keep = theta > cfg.threshold
        kept_error = float(torch.mean((net.decode_nchw(masked(net, h0, keep.to(u0.dtype)[None]), layer) - x0) ** 2))
    return {"theta": net.to_jax_order(theta.reshape(-1).cpu().numpy(), layer).copy(), "loss": last_loss,
            "steps": t, "converged": bool(converged), "kept_error": kept_error, "forward_passes": t,
            "objective": kept_error + cfg.ber_lambda * float(torch.mean(keep.to(u0.dtype))), "reached": reached}


#: The BerOpt variants the reference runs: the library's algorithm (same optimiser,
#: schedule, checks and stop rule as gbas-jax: the like-for-like comparison) and the
#: paper's plain one (PyTorch's Adam at its default betas, a constant learning rate,
#: the loss-window stop).
BEROPTS = {"library": ber_opt_library, "paper": ber_opt}


# ---------------------------------------------------------------------------
# Region test
# ---------------------------------------------------------------------------
class Region:
    """Batched membership in ``GR_V``, without permuting the network output: with a
    ``channels_last`` mirror the pre-activations are physically NHWC, so the JAX
    order is a free view and ``V`` is used as it is; otherwise ``V`` (JAX order) is
    permuted once into the NCHW order of the layer."""

    def __init__(self, net: MirrorBase, layer: int, V, device="cpu"):
        self.net, self.layer = net, layer
        v = np.asarray(V).astype(np.float32).reshape(-1)
        self.nhwc = bool(getattr(net, "channels_last", False))
        if not self.nhwc:
            v = net.to_nchw_order(v, layer)
        self.v = torch.as_tensor(np.ascontiguousarray(v), device=device)   # (D_l,) in {-1, 0, 1}
        self.any_kept = bool(np.any(v != 0))

    def slack(self, z: torch.Tensor) -> torch.Tensor:
        """``min_i V_i a_i(z)`` over the layer, ``(B,)``; ``0`` contributions from
        ``V_i = 0`` do not change the sign decision ``>= 0``."""
        if self.nhwc:
            a = self.net.boundary(z, self.layer)        # a view: memory is already NHWC
        else:
            a = self.net.pre_activation_nchw(z, self.layer)
        return torch.amin(a * self.v, dim=1)

    def contains(self, z: torch.Tensor) -> torch.Tensor:
        """``(B, Dz) -> (B,)`` bool."""
        if not self.any_kept:
            return torch.ones(z.shape[0], dtype=torch.bool, device=z.device)
        return self.slack(z) >= 0


@at_float32
def in_region(net: MirrorBase, z: torch.Tensor, layer: int, V) -> torch.Tensor:
    """``(B, Dz) -> (B,)`` bool (``V`` int8 in the JAX order)."""
    with torch.inference_mode():
        return Region(net, layer, V, device=z.device).contains(z)


# ---------------------------------------------------------------------------
# GB-RRT, K proposals per iteration
# ---------------------------------------------------------------------------
def _greedy(ok_idx: np.ndarray, close: np.ndarray) -> list:
    """Greedy in-order acceptance among the qualifying candidates ``ok_idx``
    (ascending): ``close[i, j]`` says candidates ``ok_idx[i]`` and ``ok_idx[j]`` are
    nearer than the spacing threshold.  Returns positions into ``ok_idx``."""
    acc = []
    for i in range(len(ok_idx)):
        if not any(close[i, j] for j in acc):
            acc.append(i)
    return acc


@at_float32
def gb_rrt(net: MirrorBase, z0: torch.Tensor, layer: int, V, cfg, generator: torch.Generator,
           max_iterations: int | None = None) -> dict:
    """Vectorised GB-RRT (``K = cfg.proposals`` candidates per iteration).

    Args: z0 ``(Dz,)`` tensor; V int8 ``(D_l,)`` JAX order; cfg ``gb.EGBASConfig``;
    generator ``torch.Generator`` (on z0's device); max_iterations default
    ``cfg.max_iterations``.

    Returns a dict with the fields of :func:`torch_mirror.reference_torch.gb_rrt`
    (``samples`` ``(N, Dz)``, ``parents`` ``(N,)``, ``num_samples``, ``rejected``
    ``(M, Dz)``, ``num_rejected``, ``iterations``, ``candidates`` = ``K *
    iterations``, ``accepted``, ``too_close``, ``stop_reason``,
    ``rejected_overflow``) plus ``num_dropped`` (accepted beyond capacity) and
    ``band_rechecks`` (rows recomputed from direct differences).
    """
    n_cap, m_cap, k_prop = cfg.capacity, cfg.reject_capacity, cfg.proposals
    max_iterations = cfg.max_iterations if max_iterations is None else int(max_iterations)
    dev, dt = z0.device, z0.dtype
    dz = z0.shape[-1]
    delta = float(cfg.step_size)
    thr2 = (delta * (1.0 - SPACING_RTOL)) ** 2
    # Error bound of the expanded squared distance |a|^2 - 2 a.b + |b|^2 in float32:
    # each dot product of length Dz has relative error <= ~Dz * eps, so the total is
    # below (Dz + 2) * eps * 2 (|a|^2 + |b|^2); doubled again for safety.
    err_coef = 4.0 * (dz + 2) * float(torch.finfo(dt).eps)
    tiny = torch.finfo(dt).tiny
    region = Region(net, layer, V, device=dev)

    with torch.inference_mode():
        half = torch.as_tensor(cfg.interval, dtype=dt, device=dev)
        off = torch.zeros((n_cap, dz), dtype=dt, device=dev)     # tree, relative to z0
        sqn = torch.zeros((n_cap,), dtype=dt, device=dev)        # |o|^2 of tree nodes
        parents = np.full((n_cap,), -1, np.int32)
        rejected = torch.zeros((m_cap, dz), dtype=dt, device=dev)
        u = torch.empty((k_prop, dz), dtype=dt, device=dev)
        count, num_rejected, num_dropped, too_close, rechecks, it = 1, 0, 0, 0, 0, 0
        max_sqn = 0.0
        while count < n_cap and it < max_iterations:
            it += 1
            # 1. proposals, as offsets from z0
            torch.rand((k_prop, dz), generator=generator, out=u)
            u.mul_(2.0).sub_(1.0).mul_(half)
            tree, tree_sq = off[:count], sqn[:count]
            # 2. nearest node (|u|^2 is constant per row: irrelevant for argmin)
            nearest = torch.argmin(torch.addmm(tree_sq, u, tree.t(), beta=1.0, alpha=-2.0), dim=1)
            q = tree[nearest]
            d = u - q
            o_new = q + d * (delta / torch.linalg.vector_norm(d, dim=1, keepdim=True).clamp_min(tiny))
            z_new = o_new + z0                                   # the points the network sees
            # 3. batched region test on the whole layer
            inside = region.contains(z_new)
            # 4. spacing to the tree, expansion + band recheck
            o_sq = torch.sum(o_new * o_new, dim=1)
            mn = torch.amin(torch.addmm(tree_sq, o_new, tree.t(), beta=1.0, alpha=-2.0), dim=1) + o_sq
            tol = err_coef * (o_sq + max_sqn)
            flags = torch.stack([inside, mn >= thr2, (mn - thr2).abs() <= tol]).cpu().numpy()
            ins, far, band = flags[0], flags[1], flags[2] & flags[0]
            if band.any():  # rare: decide these rows from direct differences
                rows = np.flatnonzero(band)
                exact = torch.amin(torch.sum((o_new[rows][:, None, :] - tree[None]) ** 2, dim=-1), dim=1)
                far = far.copy()
                far[rows] = (exact >= thr2).cpu().numpy()
                rechecks += len(rows)
            ok_idx = np.flatnonzero(ins & far)
            too_close += int(np.count_nonzero(ins)) - len(ok_idx)
            # region failures -> rejected buffer (first M stored, all counted)
            n_fail = k_prop - int(np.count_nonzero(ins))
            if n_fail:
                room = m_cap - num_rejected
                if room > 0:
                    fail_idx = np.flatnonzero(~ins)[:room]
                    rejected[num_rejected:num_rejected + len(fail_idx)] = \
                        z_new[torch.as_tensor(fail_idx, device=dev)]
                num_rejected += n_fail
            if len(ok_idx) == 0:
                continue
            # greedy in-batch spacing among the qualifying candidates
            idx_t = torch.as_tensor(ok_idx, device=dev)
            cand = o_new[idx_t]
            if len(ok_idx) > 1:
                pair = torch.sum((cand[:, None, :] - cand[None, :, :]) ** 2, dim=-1)   # direct
                acc = _greedy(ok_idx, (pair < thr2).cpu().numpy())
            else:
                acc = [0]
            too_close += len(ok_idx) - len(acc)
            n_new = min(len(acc), n_cap - count)
            num_dropped += len(acc) - n_new
            acc = acc[:n_new]
            acc_t = torch.as_tensor(acc, device=dev)
            new = cand[acc_t]
            off[count:count + n_new] = new
            new_sq = o_sq[idx_t[acc_t]]
            sqn[count:count + n_new] = new_sq
            parents[count:count + n_new] = nearest[idx_t[acc_t]].cpu().numpy()
            max_sqn = max(max_sqn, float(new_sq.max()))
            count += n_new
        samples = torch.zeros((n_cap, dz), dtype=dt, device=dev)
        samples[:count] = off[:count] + z0    # the same float32 addition as the tested points
        samples[0] = z0
    return {"samples": samples.cpu().numpy(), "parents": parents, "num_samples": count,
            "rejected": rejected.cpu().numpy(), "num_rejected": num_rejected,
            "iterations": it, "candidates": it * k_prop, "accepted": count - 1,
            "too_close": too_close, "num_dropped": num_dropped, "band_rechecks": rechecks,
            "stop_reason": "capacity" if count >= n_cap else "max_iterations",
            "rejected_overflow": num_rejected > m_cap}


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------
def run(gen_jax, z0, layer: int, cfg, seed: int, V=None, max_iterations: int | None = None,
        device="cpu", net: MirrorBase | None = None, fold_bn: bool = True, channels_last: bool = True,
        num_threads: int | None = None, beropt: str = "paper") -> dict:
    """Vectorised E-GBAS in PyTorch: BerOpt (S masks batched), indicator, GB-RRT.

    Args and returns as :func:`torch_mirror.reference_torch.run` (``max_iterations``
    defaults to ``cfg.max_iterations``, of ``K`` candidates each; the returned
    dict also has ``num_dropped`` and ``band_rechecks``); when the mirror is built
    here, ``fold_bn`` folds the BatchNorm into its linear maps and
    ``channels_last`` stores its activations physically NHWC.  ``beropt``: which
    BerOpt (:data:`BEROPTS`): ``"paper"`` (the default so far) or ``"library"``
    (gbas-jax's algorithm); the record names it.
    """
    if beropt not in BEROPTS:
        raise ValueError(f"beropt must be one of {sorted(BEROPTS)}, got {beropt!r}")
    t0 = time.perf_counter()
    if net is None:
        net = torch_mirror.from_jax(gen_jax, fold=fold_bn, channels_last=channels_last).to(device)
    out = _run("batched_torch", BEROPTS[beropt], gb_rrt, net, time.perf_counter() - t0, z0, layer, cfg, seed,
               V, max_iterations, device, num_threads)
    out["beropt"] = beropt
    return out


def check_same_region_test(gen_jax, layer: int, V, z, margin: float, net: MirrorBase | None = None,
                           fold_bn: bool = True, channels_last: bool = True) -> dict:
    """Same weights / same region test for the batched path (NCHW indicator,
    folded BatchNorm by default): agreement with ``gb.in_region`` on the rows of
    ``z`` whose JAX slack ``|gb.region_margin|`` exceeds ``margin``.

    Returns ``{"checked": int, "mismatches": int, "inside": int}``.
    """
    if net is None:
        net = torch_mirror.from_jax(gen_jax, fold=fold_bn, channels_last=channels_last)
    return _compare_region_test(gen_jax, layer, V, z, margin, lambda zt, V_: in_region(net, zt, layer, V_))


__all__ = ["BEROPTS", "Region", "ber_opt", "ber_opt_library", "check_same_region_test", "gb_rrt", "in_region",
           "relaxed_loss", "run"]
