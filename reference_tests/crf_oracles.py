"""Slow, independent oracles for the dense-CRF tests (plain Python loops, float64, NumPy only).

- :func:`reference_lattice_filter`: the permutohedral lattice exactly as Kraehenbuehl's C++ code
  runs it (``Permutohedral::init`` without SSE, then ``seqCompute``), one point and one vertex
  at a time, with a dict as the hash table. The library's array version must give the same
  numbers.
- :func:`brute_force_crf`: the fully connected CRF straight from the paper's formulas: every
  kernel value from positions and colours in a double loop over pixels, the Potts messages with
  the sum over ``l' != l`` left in (no cancellation trick), each normalisation mode by its
  definition.
- :func:`network_probs`: probabilities that look like a DeepLab output: the one-hot label at
  stride 8, some noise, bilinear (align-corners) upsampling, softmax.
"""
import math

import numpy as np

from minideeplab import functional as F


def reference_lattice_filter(features, values):
    """``alpha S^T B_d..B_0 S values`` by loops. features (N, d) float, values (N, C) -> (N, C)."""
    f = np.asarray(features, dtype=np.float64)
    V = np.asarray(values, dtype=np.float64)
    N, d = f.shape
    d1 = d + 1
    canonical = [[r if j <= d - r else r - d1 for j in range(d1)] for r in range(d1)]
    scale = [d1 * math.sqrt(2.0 / 3.0) / math.sqrt((i + 1) * (i + 2)) for i in range(d)]
    table = {}                                  # key (d ints) -> vertex index
    offsets = np.zeros((N, d1), dtype=int)
    weights = np.zeros((N, d1))
    for n in range(N):
        elevated = [0.0] * d1                   # E f: on the plane sum = 0
        tail = 0.0
        for j in range(d, 0, -1):
            c = f[n, j - 1] * scale[j - 1]
            elevated[j] = tail - j * c
            tail += c
        elevated[0] = tail
        rem0, total = [0] * d1, 0
        for i in range(d1):                     # nearest multiple of d+1, ties down
            v = elevated[i] / d1
            up, down = math.ceil(v) * d1, math.floor(v) * d1
            rem0[i] = up if up - elevated[i] < elevated[i] - down else down
            total += rem0[i] // d1
        rank = [0] * d1
        for i in range(d):
            for j in range(i + 1, d1):
                if elevated[i] - rem0[i] < elevated[j] - rem0[j]:
                    rank[i] += 1
                else:
                    rank[j] += 1
        for i in range(d1):
            rank[i] += total
            if rank[i] < 0:
                rank[i] += d1
                rem0[i] += d1
            elif rank[i] > d:
                rank[i] -= d1
                rem0[i] -= d1
        bary = [0.0] * (d + 2)
        for i in range(d1):
            v = (elevated[i] - rem0[i]) / d1
            bary[d - rank[i]] += v
            bary[d - rank[i] + 1] -= v
        bary[0] += 1.0 + bary[d + 1]
        for r in range(d1):
            key = tuple(rem0[i] + canonical[r][rank[i]] for i in range(d))
            offsets[n, r] = table.setdefault(key, len(table))
            weights[n, r] = bary[r]
    keys = list(table)
    M = len(keys)
    lattice = np.zeros((M + 1, V.shape[1]))     # row M: a missing neighbour, always 0
    for n in range(N):
        for r in range(d1):
            lattice[offsets[n, r]] += weights[n, r] * V[n]
    for j in range(d1):
        new = lattice.copy()
        for k, key in enumerate(keys):
            n1 = [c - 1 for c in key]
            n2 = [c + 1 for c in key]
            if j < d:
                n1[j], n2[j] = key[j] + d, key[j] - d
            a, b = table.get(tuple(n1), M), table.get(tuple(n2), M)
            new[k] = lattice[k] + 0.5 * (lattice[a] + lattice[b])
        lattice = new
    alpha = 1.0 / (1.0 + 2.0 ** -d)
    out = np.zeros_like(V)
    for n in range(N):
        for r in range(d1):
            out[n] += weights[n, r] * lattice[offsets[n, r]] * alpha
    return out


def brute_force_kernels(image, theta_alpha, theta_beta, theta_gamma):
    """(N, N) appearance and smoothness kernels, pixel pairs by a double loop (i = j included)."""
    H, W, _ = image.shape
    pix = [(y, x) for y in range(H) for x in range(W)]
    N = len(pix)
    k1, k2 = np.zeros((N, N)), np.zeros((N, N))
    for i, (yi, xi) in enumerate(pix):
        for j, (yj, xj) in enumerate(pix):
            dp2 = (yi - yj) ** 2 + (xi - xj) ** 2
            dI2 = float(np.sum((image[yi, xi].astype(float) - image[yj, xj].astype(float)) ** 2))
            k1[i, j] = math.exp(-dp2 / (2 * theta_alpha ** 2) - dI2 / (2 * theta_beta ** 2))
            k2[i, j] = math.exp(-dp2 / (2 * theta_gamma ** 2))
    return k1, k2


def _normalize(K, mode):
    n = K.sum(axis=1) + 1e-20
    if mode == "symmetric":
        return K / np.sqrt(n)[:, None] / np.sqrt(n)[None, :]
    if mode == "after":
        return K / n[:, None]
    if mode == "before":
        return K / n[None, :]
    return K


def brute_force_crf(image, probs, *, w1, theta_alpha, theta_beta, w2, theta_gamma, iterations,
                    normalization="symmetric", floor=1e-5):
    """Mean field of the fully connected Potts CRF, from the definitions. Returns (L, H, W)."""
    L, H, W = probs.shape
    N = H * W
    U = -np.log(np.maximum(probs.reshape(L, N).T.astype(np.float64), floor))   # (N, L)
    k1, k2 = brute_force_kernels(image, theta_alpha, theta_beta, theta_gamma)
    kernels = [(w1, _normalize(k1, normalization)), (w2, _normalize(k2, normalization))]

    def softmax_rows(s):
        e = np.exp(s - s.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    Q = softmax_rows(-U)
    for _ in range(iterations):
        energy = U.copy()
        for i in range(N):
            for l in range(L):
                for w, K in kernels:           # Potts: pay w K_ij for every j labelled l' != l
                    energy[i, l] += w * sum(K[i, j] * sum(Q[j, m] for m in range(L) if m != l)
                                            for j in range(N))
        Q = softmax_rows(-energy)
    return Q.T.reshape(L, H, W)


def network_probs(label, num_classes, seed=0, stride=8, confidence=3.0, noise=1.0):
    """(L, H, W) float32 softmax of ``confidence * onehot(label[::stride, ::stride]) + noise``,
    upsampled bilinearly (align corners, as Caffe's Interp) to the label's size."""
    rng = np.random.default_rng(seed)
    H, W = label.shape
    small = np.asarray(label)[::stride, ::stride]
    onehot = (small[None] == np.arange(num_classes)[:, None, None]).astype(np.float64)
    logits = confidence * onehot + noise * rng.standard_normal(onehot.shape)
    up, _ = F.resize_bilinear(logits[None], (H, W))
    e = np.exp(up[0] - up[0].max(axis=0))
    return (e / e.sum(axis=0)).astype(np.float32)
