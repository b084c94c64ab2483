"""An independent numpy forward pass of the DCGAN generator, written from the
PyTorch definitions of the layers (scatter form of ConvTranspose2d)."""

import numpy as np


def torch_convT_weight(flax_kernel):
    """Flax (kh, kw, in, out) unflipped kernel -> PyTorch ConvTranspose2d weight (in, out, kh, kw)."""
    return np.asarray(flax_kernel)[::-1, ::-1].transpose(2, 3, 0, 1)


def conv_transpose(x, w_torch, stride=2, padding=1):
    """PyTorch ConvTranspose2d, NHWC input, weight (in, out, kh, kw)."""
    b, h, w, _ = x.shape
    _, cout, kh, kw = w_torch.shape
    full = np.zeros((b, (h - 1) * stride + kh, (w - 1) * stride + kw, cout))
    for i in range(h):
        for j in range(w):
            # out[i*s + ki, j*s + kj, o] += sum_c x[i, j, c] * W[c, o, ki, kj]
            full[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :] += np.einsum(
                "bc,cokl->bklo", x[:, i, j, :], w_torch)
    hout = (h - 1) * stride - 2 * padding + kh
    wout = (w - 1) * stride - 2 * padding + kw
    return full[:, padding:padding + hout, padding:padding + wout, :]


def conv(x, k, padding=1, stride=1):
    """Cross-correlation, NHWC input, kernel (kh, kw, in, out)."""
    kh, kw = k.shape[:2]
    xp = np.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)))
    hout = (xp.shape[1] - kh) // stride + 1
    wout = (xp.shape[2] - kw) // stride + 1
    out = np.zeros((x.shape[0], hout, wout, k.shape[3]))
    for i in range(hout):
        for j in range(wout):
            patch = xp[:, i * stride:i * stride + kh, j * stride:j * stride + kw, :]
            out[:, i, j, :] = np.einsum("bklc,klco->bo", patch, k)
    return out


def batch_norm(x, stats, params, eps=1e-5):
    return (x - stats["mean"]) / np.sqrt(stats["var"] + eps) * params["scale"] + params["bias"]


def preactivations(gen, z):
    """List of pre-activations a_1 .. a_{L+1} (the last one is the output block's)."""
    m = gen.model.module
    P = {k: {n: np.asarray(v, np.float64) for n, v in d.items()} for k, d in gen.params["params"].items()}
    S = {k: {n: np.asarray(v, np.float64) for n, v in d.items()} for k, d in gen.params["batch_stats"].items()}
    base = 7 if m.image_size == 28 else 4
    ups = int(round(np.log2(m.image_size // base)))
    h = np.asarray(z, np.float64)
    out = []
    for layer in range(1, m.num_layers + 2):
        k = P[f"linears_{layer - 1}"]["kernel"]
        if layer == 1:
            a = (h @ k).reshape(h.shape[0], base, base, m.widths[0])
        elif layer <= ups or layer == m.num_layers + 1:
            a = conv_transpose(h, torch_convT_weight(k))
        else:
            a = conv(h, k)
        if layer <= m.num_layers:
            a = batch_norm(a, S[f"norms_{layer - 1}"], P[f"norms_{layer - 1}"])
            h = np.maximum(a, 0.0)
        else:
            h = np.tanh(a)
        out.append(a)
    return out, h
