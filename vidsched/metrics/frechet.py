"""The Frechet distance between two Gaussians fitted to feature sets (FID, VFID).

FID (Heusel et al. 2017) fits a Gaussian to Inception features of every frame, VFID
(Wang et al. 2018, as in DEVIL, Szeto & Corso 2021) one to I3D features of every video;
both score the distance between the fit to the ground truth and the fit to the composites::

    d^2 = |mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))

with ``mu`` the feature mean and ``S`` the sample covariance (``np.cov``, N - 1), as
pytorch-fid and DEVIL's ``src/fid/pytorch_fid`` compute them.

Two ways to get ``tr((S1 S2)^(1/2))``:

* ``"sqrtm"`` (default, the numbers of pytorch-fid and DEVIL): ``scipy.linalg.sqrtm(S1 @ S2)``.
  If that is not finite (a singular product), ``eps`` is added to both diagonals and it is
  recomputed. Rounding can leave an imaginary part, which is dropped; if the diagonal's
  imaginary part exceeds ``1e-3`` a ``RuntimeWarning`` says so (DEVIL warns and goes on
  the same way; pytorch-fid raises) -- the ``"eigen"`` route is then the one to trust.
* ``"eigen"``: ``S1 S2`` is similar to the symmetric ``A S2 A`` with ``A = S1^(1/2)``, so
  ``tr((S1 S2)^(1/2)) = sum_i sqrt(lambda_i(A S2 A))``. Both steps are symmetric
  eigendecompositions (``eigh``) with negative rounding-error eigenvalues set to 0: always
  real and finite, also for the singular covariances of fewer samples than dimensions
  (VFID over a few videos).

The two agree to rounding on well-conditioned covariances. The result is clamped at 0
(rounding can make the distance between identical sets a tiny negative number).
"""

from __future__ import annotations

import warnings
from typing import Literal

import numpy as np
from scipy import linalg

from vidsched.errors import VidschedError

SqrtMethod = Literal["sqrtm", "eigen"]
IMAGINARY_ATOL = 1e-3


def gaussian_stats(features: np.ndarray, name: str = "features") -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and sample covariance ``(D, D)`` of ``features`` ``(N, D)``, N >= 2."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise VidschedError(f"{name}: expected a feature matrix of shape (N, D), got shape {features.shape}")
    if features.shape[0] < 2 or features.shape[1] < 1:
        raise VidschedError(f"{name}: a covariance needs at least 2 feature vectors of at least 1 dimension, "
                            f"got shape {features.shape}")
    if not np.isfinite(features).all():
        raise VidschedError(f"{name}: the features have NaN or infinite values")
    return features.mean(axis=0), np.atleast_2d(np.cov(features, rowvar=False))


def _sqrt_psd(sigma: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh(sigma)
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _trace_sqrt_eigen(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    a = _sqrt_psd(sigma1)
    m = a @ sigma2 @ a
    w = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sum(np.sqrt(np.clip(w, 0.0, None))))


def _trace_sqrt_sqrtm(sigma1: np.ndarray, sigma2: np.ndarray, eps: float) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)  # singular: handled below
        covmean = linalg.sqrtm(sigma1 @ sigma2)
        if not np.isfinite(covmean).all():
            offset = np.eye(sigma1.shape[0]) * eps
            covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    if np.iscomplexobj(covmean):
        imag = np.abs(np.diagonal(covmean).imag).max()
        if imag > IMAGINARY_ATOL:
            warnings.warn(f"Frechet distance: sqrtm left an imaginary part of {imag:.3g} on the diagonal "
                          f"(tolerance {IMAGINARY_ATOL}); it is dropped, as DEVIL does -- "
                          "method='eigen' is more reliable here", RuntimeWarning, stacklevel=3)
        covmean = covmean.real
    return float(np.trace(covmean))


def frechet_distance_gaussians(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    method: SqrtMethod = "sqrtm",
    eps: float = 1e-6,
) -> float:
    """``|mu1 - mu2|^2 + tr(S1) + tr(S2) - 2 tr((S1 S2)^(1/2))`` (module docstring), >= 0.

    ``eps`` is the diagonal offset of the ``"sqrtm"`` route's fallback.
    """
    mu1, mu2 = np.atleast_1d(np.asarray(mu1, dtype=np.float64)), np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    d = mu1.shape[0]
    if mu1.ndim != 1 or mu2.shape != mu1.shape:
        raise VidschedError(f"the means must be vectors of one length, got shapes {mu1.shape} and {mu2.shape}")
    if sigma1.shape != (d, d) or sigma2.shape != (d, d):
        raise VidschedError(f"the covariances must be {d}x{d} (the means have {d} dimensions), "
                            f"got shapes {sigma1.shape} and {sigma2.shape}")
    if not all(np.isfinite(x).all() for x in (mu1, mu2, sigma1, sigma2)):
        raise VidschedError("the means or covariances have NaN or infinite values")
    if method == "sqrtm":
        tr_covmean = _trace_sqrt_sqrtm(sigma1, sigma2, eps)
    elif method == "eigen":
        tr_covmean = _trace_sqrt_eigen(sigma1, sigma2)
    else:
        raise VidschedError(f"unknown matrix square-root method {method!r} (choose from sqrtm, eigen)")
    diff = mu1 - mu2
    dist = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)
    return max(dist, 0.0)


def frechet_distance(features1: np.ndarray, features2: np.ndarray, method: SqrtMethod = "sqrtm") -> float:
    """Frechet distance between Gaussians fitted to ``features1`` ``(N, D)`` and ``features2`` ``(M, D)``."""
    mu1, sigma1 = gaussian_stats(features1, "first feature set")
    mu2, sigma2 = gaussian_stats(features2, "second feature set")
    if mu1.shape != mu2.shape:
        raise VidschedError(f"the feature sets have different dimensions: {mu1.shape[0]} and {mu2.shape[0]}")
    return frechet_distance_gaussians(mu1, sigma1, mu2, sigma2, method=method)
