"""Column elimination of a linear layer y = W x + b (W (M, K)) from input statistics.

Both methods drop input columns k of W (synapse vectors, DeftNN section 4.1)
so the run-time GEMM has inner dimension K' < K and stays dense, and both fold
what they drop into what they keep, without fine-tuning:

- SVE with activation statistics (`sve_order`): the inputs' Pearson
  correlation over real tokens replaces the paper's weight-column correlation
  (equation 6): an input x_d that is nearly affine in a kept x_r
  (x_d ~ a x_r + c, least squares) is dropped and its column folded into
  the kept one: W[:, r] += a W[:, d] (the paper's rescale), b += c W[:, d].
  Greedy: repeatedly take the most correlated remaining pair and drop the
  one of lower importance var(x) ||W[:, k]||^2.
- FLAP-style (`flap_order`, An et al. 2024, "fluctuation"): drop the columns
  of least var(x_k) ||W[:, k]||^2 and put their mean contribution into the
  bias: b += W[:, d] E[x_d] (bias compensation; exact when x_d is constant).

Each order is computed once per layer; `apply` takes any prefix of it
(density = kept / K), so every density reuses one search.
"""
import numpy as np


class Stats:
    """Running mean and second moment of a site's inputs over real tokens (float64)."""

    def __init__(self, k):
        self.n, self.s, self.ss = 0, np.zeros(k), np.zeros((k, k))

    def add(self, x, mask):  # x (N, T, K), mask (N, T)
        v = x[mask > 0].astype(np.float64)  # (tokens, K)
        self.n += len(v)
        self.s += v.sum(0)
        self.ss += v.T @ v

    def mean(self):
        return self.s / self.n

    def cov(self):
        m = self.mean()
        return self.ss / self.n - np.outer(m, m)


def importance(w, cov):
    """FLAP's fluctuation score per column: var(x_k) ||W[:, k]||^2, (K,)."""
    return np.diag(cov) * (w.astype(np.float64) ** 2).sum(0)


def flap_order(w, mean, cov):
    """Columns in the order FLAP drops them: [(d, None, 0.0, mean_d)], least important first."""
    return [(int(d), None, 0.0, float(mean[d])) for d in np.argsort(importance(w, cov), kind="stable")]


def sve_order(w, mean, cov):
    """[(dropped d, kept r, slope a, offset c)] in drop order, K - 1 entries."""
    k = len(mean)
    var = np.maximum(np.diag(cov), 1e-30)
    corr = np.abs(cov / np.sqrt(np.outer(var, var)))
    np.fill_diagonal(corr, -np.inf)
    imp = importance(w, cov)
    rowarg = corr.argmax(1)
    rowmax = corr[np.arange(k), rowarg]
    out = []
    for _ in range(k - 1):
        i = int(rowmax.argmax())
        j = int(rowarg[i])
        d, r = (i, j) if imp[i] < imp[j] else (j, i)
        a = cov[r, d] / var[r]
        out.append((d, r, float(a), float(mean[d] - a * mean[r])))
        corr[d, :] = -np.inf
        corr[:, d] = -np.inf
        rowmax[d] = -np.inf
        for s in np.nonzero(rowarg == d)[0]:  # rows whose best partner was d look again
            if rowmax[s] == -np.inf:
                continue
            rowarg[s] = corr[s].argmax()
            rowmax[s] = corr[s, rowarg[s]]
    return out


def apply(w, b, order, kept_count):
    """(kept columns (K',), W' (M, K'), b' (M,)) after dropping order's first K - kept_count columns."""
    w = w.astype(np.float64).copy()
    b = b.astype(np.float64).copy()
    k = w.shape[1]
    alive = np.ones(k, bool)
    for d, r, a, c in order[:k - kept_count]:
        if r is not None:
            w[:, r] += a * w[:, d]
        b += c * w[:, d]
        alive[d] = False
    kept = np.nonzero(alive)[0]
    return kept, w[:, kept].astype(np.float32), b.astype(np.float32)


def kept_count(k, density, align=8):
    """Columns kept at a density, rounded up to a multiple of align (tensor-core friendly), at most K."""
    n = int(np.ceil(density * k - 1e-9))
    return min(k, max(align, -(-n // align) * align))


def least_squares(w, b, mean, cov, kept, ridge=1e-6):
    """(kept, W', b') minimising E||W x + b - (W' x_kept + b')||^2 over the statistics' tokens.

    Ours, not the paper's (docs/sve.md section 7 does the same for the engine's
    `sve-ls`): W' = W C[:, kept] C[kept, kept]^-1 with C the inputs' covariance,
    b' = b + W E[x] - W' E[x_kept]. With the kept set of `sve_order` it is the
    best any fold of those columns can do, without fine-tuning.
    """
    w64 = w.astype(np.float64)
    ckk = cov[np.ix_(kept, kept)]
    ckk = ckk + ridge * np.mean(np.diag(ckk)) * np.eye(len(kept))
    wk = np.linalg.solve(ckk, (w64 @ cov[:, kept]).T).T
    bk = b + w64 @ mean - wk @ mean[kept]
    return kept, wk.astype(np.float32), bk.astype(np.float32)
