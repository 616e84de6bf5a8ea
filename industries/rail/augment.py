"""Synthetic anomalies: the crop model's extra ``anomaly`` target.

None of them is a catalogue fault mode and none uses the renderer's fault code: they teach the
model what "not the usual look of this slot" means, so faults of modes nobody labelled still
score high. The families are the standard ones of anomaly synthesis: CutPaste patches and
scars (Li et al., CutPaste, CVPR 2021), blended texture blobs (Zavrtanik et al., DRAEM, ICCV
2021), erased patches, and a local elastic displacement of a region (a smooth Gaussian-windowed
displacement field, the local form of the elastic deformation of Simard et al., ICDAR 2003,
used as a corruption in e.g. NSA and DRAEM-style pipelines).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["corrupt"]


def local_warp(img: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A region pushed 2-5 px by a smooth displacement field (Gaussian window, radius 5-14 px),
    resampled bilinearly: a generic local geometric change (not the renderer's bend code)."""
    size = img.shape[-1]
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    cy, cx = rng.uniform(12, size - 12, 2)
    s = rng.uniform(5, 14)
    w = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))
    a = rng.uniform(0, 2 * math.pi)
    amp = rng.uniform(2, 5)
    if rng.random() < 0.5:  # a shift of the region
        dy, dx = amp * math.sin(a) * w, amp * math.cos(a) * w
    else:  # a bulge or dent (radial field)
        r = np.hypot(yy - cy, xx - cx) + 1e-3
        sign = 1 if rng.random() < 0.5 else -1
        dy, dx = sign * amp * w * (yy - cy) / r, sign * amp * w * (xx - cx) / r
    sy = np.clip(yy - dy, 0, size - 1.001)
    sx = np.clip(xx - dx, 0, size - 1.001)
    y0, x0 = sy.astype(int), sx.astype(int)
    fy, fx = sy - y0, sx - x0
    return (
        img[y0, x0] * (1 - fy) * (1 - fx)
        + img[y0 + 1, x0] * fy * (1 - fx)
        + img[y0, x0 + 1] * (1 - fy) * fx
        + img[y0 + 1, x0 + 1] * fy * fx
    ).astype(img.dtype)


def corrupt(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One synthetic anomaly per crop (N x 64 x 64 floats in [0, 1]), of a random family."""
    out = x.copy()
    n = len(x)
    yy, xx = np.mgrid[0:64, 0:64]
    for i in range(n):
        kind = int(rng.integers(5))
        img = out[i]
        if kind == 0:  # CutPaste: a patch of this crop pasted elsewhere, maybe flipped
            h, w = (int(v) for v in rng.integers(8, 24, 2))
            sy, sx, ty, tx = (int(v) for v in rng.integers(0, 64 - 24, 4))
            patch = x[i, sy : sy + h, sx : sx + w]
            img[ty : ty + h, tx : tx + w] = patch[::-1] if rng.random() < 0.5 else patch[:, ::-1]
        elif kind == 1:  # CutPaste scar: a thin rotated strip of another intensity
            a = rng.uniform(0, math.pi)
            cx, cy = rng.uniform(12, 52, 2)
            u = (xx - cx) * math.cos(a) + (yy - cy) * math.sin(a)
            v = -(xx - cx) * math.sin(a) + (yy - cy) * math.cos(a)
            mask = (np.abs(u) < rng.uniform(6, 14)) & (np.abs(v) < rng.uniform(1, 2.5))
            img[mask] = x[int(rng.integers(n))][mask]
            img[mask] = np.clip(img[mask] + rng.uniform(-0.3, 0.3), 0, 1)
        elif kind == 2:  # DRAEM: a blob blended with another crop's texture
            cx, cy = rng.uniform(12, 52, 2)
            r = rng.uniform(5, 12)
            d = np.hypot(xx - cx, (yy - cy) * rng.uniform(0.5, 2)) + 2 * np.sin(xx * 0.7)
            alpha = np.clip(r - d, 0, 1) * rng.uniform(0.6, 1)
            other = x[int(rng.integers(n))] + rng.uniform(-0.3, 0.3)
            img[:] = img * (1 - alpha) + np.clip(other, 0, 1) * alpha
        elif kind == 4:  # local elastic displacement of a region
            img[:] = local_warp(img, rng)
        else:  # erased part: a patch filled with its mean
            h, w = (int(v) for v in rng.integers(6, 18, 2))
            ty, tx = (int(v) for v in rng.integers(8, 64 - 24, 2))
            img[ty : ty + h, tx : tx + w] = img[ty : ty + h, tx : tx + w].mean()
    return out
