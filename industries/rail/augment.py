"""Synthetic anomalies for the normal-only scorer (CutPaste and DRAEM style).

None of them is a catalogue fault mode: they teach the scorer what "not the usual look of this
component" means, so faults of modes nobody labelled still score high (Li et al., CutPaste,
CVPR 2021; Zavrtanik et al., DRAEM, ICCV 2021).
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["corrupt"]


def corrupt(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Synthetic anomalies for the normal-only scorer (CutPaste / DRAEM style)."""
    out = x.copy()
    n = len(x)
    yy, xx = np.mgrid[0:64, 0:64]
    for i in range(n):
        kind = int(rng.integers(4))
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
        else:  # erased part: a patch filled with its mean
            h, w = (int(v) for v in rng.integers(6, 18, 2))
            ty, tx = (int(v) for v in rng.integers(8, 64 - 24, 2))
            img[ty : ty + h, tx : tx + w] = img[ty : ty + h, tx : tx + w].mean()
    return out
