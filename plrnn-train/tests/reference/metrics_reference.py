#!/usr/bin/env python3
"""Independent NumPy/SciPy computation of the metrics checked by `tests/metrics_reference.rs`.

The inputs are built with integer and IEEE-754 arithmetic only (a 64-bit LCG, sums, products),
never with transcendental functions, so the Rust test rebuilds them bit for bit on any machine.

Regenerate the expected values with

    pip install numpy scipy
    python3 plrnn-train/tests/reference/metrics_reference.py

and paste the printed block into `tests/metrics_reference.rs`.
"""
import numpy as np
from scipy.ndimage import gaussian_filter1d

MASK = (1 << 64) - 1


class Lcg:
    """x <- 6364136223846793005 x + 1442695040888963407 (mod 2^64); u = (x >> 11) / 2^53."""

    def __init__(self, seed):
        self.x = seed & MASK

    def uniform(self):
        self.x = (self.x * 6364136223846793005 + 1442695040888963407) & MASK
        return (self.x >> 11) * (1.0 / 9007199254740992.0)

    def noise(self):
        # Sum of three uniforms, centred: ~N(0, 1/4), exact arithmetic.
        a = self.uniform()
        b = self.uniform()
        c = self.uniform()
        return ((a + b) + c) - 1.5


def series(seed, length, c1, c2, c3):
    """3 channels: an AR(2) oscillator, an AR(1), and a nonlinear mix of both."""
    rng = Lcg(seed)
    a1 = a2 = b = 0.0
    rows = []
    for _ in range(length):
        a = (c1 * a1 - c2 * a2) + rng.noise()
        b = c3 * b + rng.noise()
        c = (0.3 * a + 0.1 * (b * b)) + rng.noise()
        rows.append([a, b, c])
        a2, a1 = a1, a
    return np.array(rows, dtype=np.float64)


def d_stsp_binned(x_true, x_gen, bins, rng_kind):
    n = x_true.shape[1]
    s = x_true.std(axis=0)  # ddof = 0
    if rng_kind == "legacy":
        lo, hi = -2.0 * s, 2.0 * s
    else:
        lo, hi = x_true.min(axis=0) - 0.1 * s, x_true.max(axis=0) + 0.1 * s

    def hist(x):
        c = np.floor(bins * (x - lo) / (hi - lo))
        keep = np.all((c >= 0) & (c < bins), axis=1)
        c = c[keep].astype(np.int64)
        flat = np.ravel_multi_index(tuple(c.T), (bins,) * n)
        return np.bincount(flat, minlength=bins**n).astype(np.float64)

    alpha = 1e-5
    ht, hg = hist(x_true), hist(x_gen)
    pt = (ht + alpha) / (ht.sum() + alpha * bins**n)
    pg = (hg + alpha) / (hg.sum() + alpha * bins**n)
    return float(np.sum(pt * np.log(pt / pg)))


def zscored_power(x):
    z = (x - x.mean()) / x.std()
    return np.abs(np.fft.rfft(z)) ** 2


def d_h(x_true, x_gen, sigma):
    length = min(len(x_true), len(x_gen))
    hs = []
    for d in range(x_true.shape[1]):
        ps = []
        for x in (x_true[:length, d], x_gen[:length, d]):
            p = gaussian_filter1d(zscored_power(x), sigma, mode="reflect", truncate=4.0)
            p = np.maximum(p, 0.0)
            ps.append(p / p.sum())
        hs.append(np.sqrt(0.5 * np.sum((np.sqrt(ps[0]) - np.sqrt(ps[1])) ** 2)))
    return float(np.mean(hs))


def psc(x_true, x_gen, sigma):
    length = min(len(x_true), len(x_gen))
    rs = []
    for d in range(x_true.shape[1]):
        ss = []
        for x in (x_true[:length, d], x_gen[:length, d]):
            p = zscored_power(x)[1 : length // 2 + 1]
            db = 10.0 * np.log10(np.maximum(p, 1e-30 * p.max()))
            ss.append(gaussian_filter1d(db, sigma, mode="reflect", truncate=4.0))
        rs.append(np.corrcoef(ss[0], ss[1])[0, 1])
    return float(np.mean(rs))


def main():
    x_true = series(1, 4000, 1.6, 0.8, 0.9)
    x_gen = series(2, 3000, 1.5, 0.7, 0.8)
    rng = Lcg(3)
    short = np.array([rng.uniform() for _ in range(10)])
    out = {
        "FILTER_SIGMA_1_5": gaussian_filter1d(short, 1.5, mode="reflect", truncate=4.0),
        "FILTER_SIGMA_5": gaussian_filter1d(short, 5.0, mode="reflect", truncate=4.0),
    }
    scalars = {
        "DSTSP_LEGACY_30": d_stsp_binned(x_true, x_gen, 30, "legacy"),
        "DSTSP_DEFAULT_30": d_stsp_binned(x_true, x_gen, 30, "default"),
        "DSTSP_DEFAULT_7_2D": d_stsp_binned(x_true[:, :2], x_gen[:, :2], 7, "default"),
        "DSTSP_LEGACY_30_REVERSED": d_stsp_binned(x_gen, x_true, 30, "legacy"),
        "D_H_SIGMA_20": d_h(x_true, x_gen, 20.0),
        "D_H_SIGMA_3": d_h(x_true, x_gen, 3.0),
        "PSC_SIGMA_20": psc(x_true, x_gen, 20.0),
        "PSC_SIGMA_2": psc(x_true, x_gen, 2.0),
    }
    print(f"// numpy {np.__version__}, scipy {__import__('scipy').__version__}")
    for k, v in scalars.items():
        print(f"const {k}: f64 = {v!r};")
    for k, v in out.items():
        vals = ", ".join(repr(float(x)) for x in v)
        print(f"const {k}: [f64; {len(v)}] = [{vals}];")


if __name__ == "__main__":
    main()
