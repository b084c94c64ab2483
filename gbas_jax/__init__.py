"""gbas-jax: explorative generative-boundary-aware sampling (E-GBAS) in JAX.

Jeon, Jeong, Choi, "An Efficient Explorative Sampling Considering the Generative
Boundaries of Deep Generative Neural Networks", AAAI 2020.

The package is layered; each layer imports only the ones before it::

    core      pure JAX: model protocol, Generator, config, region, BerOpt, GB-RRT, stages
    runtime   compiler options, the traced-program store, trace counters; egbas, ber_opt, gb_rrt
    models    Flax architectures (DCGAN, PGGAN), their adapters and registry
    io        model folders (orbax), atomic outputs, pictures
    parallel  batches, sharding, memory chunks, multi-host runs
    apps      the command-line jobs (sample, boundaries, reproduce, train)
    cli       the ``gbas-jax`` entry point

The flat public names below are loaded lazily, so ``import gbas_jax.core`` loads
the core alone.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

# public name -> module that defines it
_EXPORTS = {
    **{name: "gbas_jax.core" for name in (
        "EGBASConfig", "EGBASResult", "BerOptResult", "BerOptState", "RRTResult", "RRTState", "StopReason",
        "Generator", "LayeredModel", "FunctionalModel", "LinearMap", "ConvGeometry",
        "Discriminator", "DiscriminatorModel", "halfspace_indicator", "in_region",
        "region_margin", "nrs_fraction", "query_latents")},
    **{name: "gbas_jax.runtime" for name in ("ber_opt", "gb_rrt", "egbas", "TRACE_COUNTS")},
    **{name: "gbas_jax.models" for name in ("FlaxModel", "FlaxDiscriminatorModel", "view")},
    **{name: "gbas_jax.io" for name in ("load_pretrained", "load_discriminator", "load_model", "save_model", "PRETRAINED",
                                         "enable_compile_cache")},
    **{name: "gbas_jax.parallel" for name in ("compiled_batch_bytes", "egbas_batch", "egbas_batch_keys",
                                                "generator_bytes", "memory_per_query", "query_mesh")},
}
# public submodule name -> module
_MODULES = {"core": "gbas_jax.core", "runtime": "gbas_jax.runtime", "models": "gbas_jax.models", "io": "gbas_jax.io",
            "parallel": "gbas_jax.parallel", "apps": "gbas_jax.apps",
            "baselines": "gbas_jax.core.baselines", "metrics": "gbas_jax.core.metrics",
            "kept": "gbas_jax.core.kept", "viz": "gbas_jax.io.images"}

__all__ = sorted(_EXPORTS) + sorted(_MODULES)


def __getattr__(name):
    if name in _EXPORTS:
        value = getattr(importlib.import_module(_EXPORTS[name]), name)
    elif name in _MODULES:
        value = importlib.import_module(_MODULES[name])
    else:
        raise AttributeError(f"module 'gbas_jax' has no attribute {name!r}")
    globals()[name] = value     # later lookups skip __getattr__
    return value


def __dir__():
    return __all__ + ["__version__"]
