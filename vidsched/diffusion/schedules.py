"""Noise schedules and the conversions between their parameterisations.

Training uses the continuous-time, variance-preserving (VP) schedules of Chen 2023, "On
the Importance of Noise Scheduling for Diffusion Models" (arXiv 2301.10972, Algorithm 1),
written as ``gamma(t) = alpha_t^2`` for ``t`` in [0, 1] (t = 0 clean, t = 1 pure noise)::

    x_t = sqrt(gamma) * x0 + sqrt(1 - gamma) * eps,        eps ~ N(0, I).

Sampling uses the variance-exploding (VE) state of EDM (Karras et al. 2022, "Elucidating
the Design Space of Diffusion-Based Generative Models"): dividing by sqrt(gamma),

    x_t / sqrt(gamma) = x0 + sigma * eps,      sigma = sqrt((1 - gamma) / gamma).

The three parameterisations of the noise level are interchangeable::

    logsnr = log(gamma / (1 - gamma))        gamma = sigmoid(logsnr) = 1 / (1 + sigma^2)
    sigma  = sqrt((1 - gamma) / gamma) = exp(-logsnr / 2),   logsnr = -2 log(sigma)

Precision. ``gamma`` near 1 (little noise) is not representable in float32: 1 - 1e-9
rounds to 1, and ``gamma_to_logsnr`` of that is +inf. The schedules therefore compute in
float64 and clip gamma to [clip_min, 1 - clip_min], and :func:`schedule_logsnr` converts
to log-SNR *before* casting to the caller's dtype, so it stays finite (|logsnr| <= 20.7
for clip_min = 1e-9). Training and :func:`schedule_sigmas` go through it. log-SNR and
sigma are well conditioned in float32; gamma is not.

Every function is vectorised over a tensor ``t`` and never branches on tensor values:
schedules are computed up front, as tensors.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import torch
from torch import Tensor

CLIP_MIN = 1e-9  # Chen 2023, Algorithm 1

# EDM's published defaults for the sampling grid (Karras et al. 2022, eq. 5 and sec. 3;
# NVlabs/edm generate.py). Appendix G of the paper lists its sampler hyperparameters, but
# their values were lost in the text extraction, so these defaults stand in for them.
EDM_SIGMA_MIN = 0.002
EDM_SIGMA_MAX = 80.0
EDM_RHO = 7.0

GammaFn = Callable[[Tensor], Tensor]


def _f64(t: Tensor | float) -> Tensor:
    return torch.as_tensor(t).to(torch.float64)


def _out_dtype(t: Tensor | float) -> torch.dtype:
    t = torch.as_tensor(t)
    return t.dtype if t.is_floating_point() else torch.float64


def _clip(gamma: Tensor, clip_min: float) -> Tensor:
    return gamma.clamp(clip_min, 1.0 - clip_min)


# ---- Chen 2023, Algorithm 1 --------------------------------------------------------------
def linear(t: Tensor, clip_min: float = CLIP_MIN) -> Tensor:
    """Chen 2023's ``simple_linear_schedule``::

        gamma(t) = clip(1 - t, clip_min, 1 - clip_min)

    gamma(0) = 1 - clip_min, gamma(0.5) = 0.5, gamma(1) = clip_min. Computed in float64,
    returned in ``t``'s dtype (float64 if ``t`` is not floating)."""
    return _clip(1.0 - _f64(t), clip_min).to(_out_dtype(t))


def cosine(
    t: Tensor, start: float = 0.0, end: float = 1.0, tau: float = 1.0, clip_min: float = CLIP_MIN
) -> Tensor:
    """Chen 2023's ``cosine_schedule``::

        v(u)     = cos(u * pi / 2) ** (2 * tau)
        gamma(t) = (v(end) - v(start + t * (end - start))) / (v(end) - v(start))
        gamma(t) = clip(gamma(t), clip_min, 1 - clip_min)

    gamma(0) = 1 and gamma(1) = 0 before clipping, for any start < end and tau. With the
    defaults (start 0, end 1, tau 1) it is cos(pi t / 2)^2 (Nichol & Dhariwal 2021 without
    the offset): gamma(0.5) = 0.5."""
    u = _f64(t)
    v_start = math.cos(start * math.pi / 2) ** (2 * tau)
    v_end = math.cos(end * math.pi / 2) ** (2 * tau)
    output = torch.cos((u * (end - start) + start) * math.pi / 2) ** (2 * tau)
    gamma = (v_end - output) / (v_end - v_start)
    return _clip(gamma, clip_min).to(_out_dtype(t))


def sigmoid(
    t: Tensor, start: float = -3.0, end: float = 3.0, tau: float = 1.0, clip_min: float = CLIP_MIN
) -> Tensor:
    """Chen 2023's ``sigmoid_schedule``::

        s(u)     = 1 / (1 + exp(-u / tau))
        gamma(t) = (s(end) - s(start + t * (end - start))) / (s(end) - s(start))
        gamma(t) = clip(gamma(t), clip_min, 1 - clip_min)

    gamma(0) = 1 and gamma(1) = 0 before clipping; with a symmetric range (start = -end,
    the defaults -3, 3) gamma(0.5) = 0.5."""
    u = _f64(t)
    v_start = 1.0 / (1.0 + math.exp(-start / tau))
    v_end = 1.0 / (1.0 + math.exp(-end / tau))
    output = torch.sigmoid((u * (end - start) + start) / tau)
    gamma = (v_end - output) / (v_end - v_start)
    return _clip(gamma, clip_min).to(_out_dtype(t))


SCHEDULES: dict[str, GammaFn] = {"linear": linear, "cosine": cosine, "sigmoid": sigmoid}


def get_schedule(schedule: str | GammaFn, **kwargs: float) -> GammaFn:
    """The gamma function named ``schedule`` (linear, cosine, sigmoid) with its keyword
    arguments bound; a callable is returned as is (kwargs then must be empty)."""
    if callable(schedule):
        if kwargs:
            raise TypeError("keyword arguments apply to a schedule name, not a callable")
        return schedule
    try:
        fn = SCHEDULES[schedule]
    except KeyError:
        raise ValueError(f"unknown schedule {schedule!r} ({', '.join(SCHEDULES)})") from None
    return partial(fn, **kwargs) if kwargs else fn


# ---- conversions -------------------------------------------------------------------------
def gamma_to_logsnr(gamma: Tensor) -> Tensor:
    """logsnr = log(gamma / (1 - gamma)) = log(gamma) - log1p(-gamma)."""
    return torch.log(gamma) - torch.log1p(-gamma)


def logsnr_to_gamma(logsnr: Tensor) -> Tensor:
    """gamma = sigmoid(logsnr) = 1 / (1 + exp(-logsnr))."""
    return torch.sigmoid(logsnr)


def logsnr_to_sigma(logsnr: Tensor) -> Tensor:
    """EDM's sigma = sqrt((1 - gamma) / gamma) = exp(-logsnr / 2)."""
    return torch.exp(-0.5 * logsnr)


def sigma_to_logsnr(sigma: Tensor) -> Tensor:
    """logsnr = -2 log(sigma) (+inf at sigma = 0)."""
    return -2.0 * torch.log(sigma)


def gamma_to_sigma(gamma: Tensor) -> Tensor:
    """sigma = sqrt((1 - gamma) / gamma): x_t / sqrt(gamma) = x0 + sigma * eps."""
    return torch.sqrt((1.0 - gamma) / gamma)


def sigma_to_gamma(sigma: Tensor) -> Tensor:
    """gamma = 1 / (1 + sigma^2)."""
    return 1.0 / (1.0 + sigma * sigma)


def schedule_logsnr(schedule: str | GammaFn, t: Tensor, **kwargs: float) -> Tensor:
    """logsnr(t) of a schedule, computed in float64 and returned in ``t``'s dtype (float32
    if ``t`` is not floating). Finite for every t in [0, 1] because the schedules clip
    gamma to [clip_min, 1 - clip_min] in float64."""
    t = torch.as_tensor(t)
    dtype = t.dtype if t.is_floating_point() else torch.float32
    gamma = get_schedule(schedule, **kwargs)(t.to(torch.float64))
    return gamma_to_logsnr(gamma.to(torch.float64)).to(dtype)


# ---- sampling grids ----------------------------------------------------------------------
def karras_sigmas(
    n: int,
    sigma_min: float = EDM_SIGMA_MIN,
    sigma_max: float = EDM_SIGMA_MAX,
    rho: float = EDM_RHO,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> Tensor:
    """EDM's sampling grid (Karras et al. 2022, eq. 5), decreasing, with a final 0::

        sigma_i = (sigma_max^(1/rho) + i / (n - 1) * (sigma_min^(1/rho) - sigma_max^(1/rho)))^rho
        for i < n,   sigma_n = 0.

    Returns a tensor of n + 1 values (computed in float64, like NVlabs/edm); n steps."""
    if n < 1:
        raise ValueError("n must be at least 1")
    i = torch.arange(n, dtype=torch.float64)
    ramp = i / (n - 1) if n > 1 else torch.zeros(1, dtype=torch.float64)
    lo, hi = sigma_min ** (1.0 / rho), sigma_max ** (1.0 / rho)
    sigmas = (hi + ramp * (lo - hi)) ** rho
    sigmas = torch.cat([sigmas, sigmas.new_zeros(1)])
    return sigmas.to(dtype=dtype, device=device)


def schedule_time(kind: str | GammaFn, sigma: float, **kwargs: float) -> float:
    """The diffusion time t in [0, 1] at which the schedule reaches noise level ``sigma``
    (logsnr is decreasing in t, so bisection in float64 finds it to ~1e-15); 1 above the
    schedule's largest sigma, 0 at or below its smallest."""
    target = -2.0 * math.log(sigma) if sigma > 0 else math.inf
    lo, hi = 0.0, 1.0
    for _ in range(60):
        mid = 0.5 * (lo + hi)
        if float(schedule_logsnr(kind, torch.tensor([mid], dtype=torch.float64), **kwargs)[0]) > target:
            lo = mid  # still less noise than sigma: later
        else:
            hi = mid
    return hi


def schedule_sigmas(
    kind: str | GammaFn,
    n: int,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    start_sigma: float | None = None,
    **kwargs: float,
) -> Tensor:
    """The training schedule's own grid, for DDPM ancestral sampling: EDM sigmas at
    t = linspace(1, 0, n + 1), decreasing, n + 1 values (n steps).

    sigma_i = exp(-logsnr(t_i) / 2). The last point, t = 0, is clean data: its sigma is
    set to exactly 0 (instead of the clipped sqrt(clip_min / (1 - clip_min)) ~ 3e-5), so
    the last step returns the denoised estimate, as DDPM's last step does. The first,
    t = 1, is sqrt((1 - clip_min) / clip_min) ~ 3.2e4 for clip_min = 1e-9.

    ``start_sigma`` (an SDEdit start, Meng et al. 2022) begins the grid at the time where the
    schedule reaches that noise level, t_start, and spaces the n steps evenly in t from
    there: the same schedule, entered part-way."""
    if n < 1:
        raise ValueError("n must be at least 1")
    t_start = 1.0 if start_sigma is None else schedule_time(kind, start_sigma, **kwargs)
    t = torch.linspace(t_start, 0.0, n + 1, dtype=torch.float64)
    sigmas = logsnr_to_sigma(schedule_logsnr(kind, t, **kwargs))
    sigmas[-1] = 0.0
    return sigmas.to(dtype=dtype, device=device)
