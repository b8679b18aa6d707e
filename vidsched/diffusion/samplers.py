"""Samplers: pure functions of (denoise, x, sigmas) in EDM's variance-exploding state.

``denoise(x, sigma) -> D`` estimates the clean data from x = x0 + sigma * eps (see
:func:`vidsched.diffusion.precond.make_denoiser`); ``sigmas`` is a decreasing 1-D tensor
of N + 1 noise levels, normally ending in 0 (:func:`~vidsched.diffusion.schedules.karras_sigmas`
for Heun, :func:`~vidsched.diffusion.schedules.schedule_sigmas` for DDPM); ``x`` starts as
``sigmas[0] * noise`` (the caller draws it). ``noise_sampler(i)`` returns the fresh
standard normal noise of step i, shaped like x (the caller supplies per-stage random
streams; default ``torch.randn_like``); it is called only on steps that add noise.
``callback(info)`` receives a dict with x, i, sigma, sigma_hat, denoised after each
first denoiser call (k-diffusion's convention).

Every per-step coefficient is computed from ``sigmas`` up front, as tensors, and the
per-step branches (churn or not, correction or not) are decided once from one host
copy of two flags: the loop itself has no ``.item()`` and no host synchronisation, so a
step can be captured in a CUDA graph.

Which sampler a name means, its sigma grid and its evaluation count are in one table,
:data:`vidsched.diffusion.registry.SAMPLERS`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

Denoiser = Callable[[Tensor, Tensor], Tensor]
NoiseSampler = Callable[[int], Tensor]
Callback = Callable[[dict[str, Any]], None]

# EDM's published defaults for Algorithm 2 (Karras et al. 2022; NVlabs/edm generate.py,
# edm_sampler): deterministic Heun (no churn) on karras_sigmas(n, 0.002, 80, 7). Appendix G
# of the paper gives its own values, lost in the text extraction; these stand in for them.
EDM_DEFAULTS: dict[str, float] = {
    "sigma_min": 0.002,
    "sigma_max": 80.0,
    "rho": 7.0,
    "s_churn": 0.0,
    "s_tmin": 0.0,
    "s_tmax": float("inf"),
    "s_noise": 1.0,
}


def _default_noise(x: Tensor) -> NoiseSampler:
    return lambda i: torch.randn_like(x)


def _flags(*conds: Tensor) -> list[list[bool]]:
    """Per-step booleans, copied to the host once, before the loop."""
    return torch.stack(conds).cpu().tolist()


@torch.no_grad()
def heun_sample(
    denoise: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    s_churn: float = 0.0,
    s_tmin: float = 0.0,
    s_tmax: float = float("inf"),
    s_noise: float = 1.0,
    noise_sampler: NoiseSampler | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """EDM's stochastic Heun sampler, Karras et al. 2022, Algorithm 2. With N = len(sigmas) - 1:

        gamma_i   = min(s_churn / N, sqrt(2) - 1) if s_tmin <= sigma_i <= s_tmax else 0
        sigma_hat = sigma_i (1 + gamma_i)
        x_hat     = x_i + sqrt(sigma_hat^2 - sigma_i^2) * s_noise * z      (only if gamma_i > 0)
        d         = (x_hat - D(x_hat, sigma_hat)) / sigma_hat
        x_{i+1}   = x_hat + (sigma_{i+1} - sigma_hat) d                     (Euler)
        if sigma_{i+1} != 0:                                                (2nd-order correction)
            d'      = (x_{i+1} - D(x_{i+1}, sigma_{i+1})) / sigma_{i+1}
            x_{i+1} = x_hat + (sigma_{i+1} - sigma_hat) (d + d') / 2

    N steps ending at sigma_N = 0 cost 2N - 1 denoiser evaluations. s_churn = 0 (the
    default) is the deterministic 2nd-order ODE solver (EDM Algorithm 1)."""
    n = len(sigmas) - 1
    sigmas = sigmas.to(device=x.device)
    sig, sig_next = sigmas[:-1], sigmas[1:]
    gamma = min(s_churn / n, math.sqrt(2.0) - 1.0) if n > 0 else 0.0
    gammas = torch.where((sig >= s_tmin) & (sig <= s_tmax), gamma, 0.0).to(sig.dtype)
    sig_hat = sig * (1.0 + gammas)
    churn_std = s_noise * (sig_hat**2 - sig**2).clamp_min(0.0).sqrt()
    dt = sig_next - sig_hat
    # Coefficients in x's dtype (0-d tensors on x's device, indexed per step).
    sig, sig_hat, sig_next, churn_std, dt = (
        v.to(x.dtype) for v in (sig, sig_hat, sig_next, churn_std, dt)
    )
    churn, correct = _flags(gammas > 0, sigmas[1:] != 0)
    noise_sampler = noise_sampler or _default_noise(x)

    for i in range(n):
        if churn[i]:
            x = x + churn_std[i] * noise_sampler(i)
        denoised = denoise(x, sig_hat[i])
        d = (x - denoised) / sig_hat[i]
        if callback is not None:
            info = {"x": x, "i": i, "sigma": sig[i], "sigma_hat": sig_hat[i], "denoised": denoised}
            callback(info)
        x_next = x + dt[i] * d
        if correct[i]:
            d_next = (x_next - denoise(x_next, sig_next[i])) / sig_next[i]
            x_next = x + dt[i] * (0.5 * (d + d_next))
        x = x_next
    return x


@torch.no_grad()
def ddpm_sample(
    denoise: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    noise_sampler: NoiseSampler | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """Ancestral sampling (Ho et al. 2020, DDPM), written in the VE state.

    Each step draws from the forward process's posterior given the denoised estimate
    x0_hat = D(x_i, sigma_i): with s = sigma_{i+1} < sigma_i,

        x_{i+1} = x0_hat + (s^2 / sigma_i^2) (x_i - x0_hat) + s sqrt(1 - s^2 / sigma_i^2) z.

    Derivation. The VE process x_sigma = x0 + sigma * eps is Markov with independent
    Gaussian increments, x_sigma = x_s + sqrt(sigma^2 - s^2) n, so Gaussian conditioning gives
    q(x_s | x_sigma, x0) = N(x0 + (s^2/sigma^2)(x_sigma - x0), s^2 (sigma^2 - s^2) / sigma^2).
    The VP state is a per-time rescaling of the same chain (x_t = x_sigma / sqrt(1 + sigma^2)),
    so this is exactly DDPM's posterior q(x_s | x_t, x0) = N(mu_tilde, beta_tilde) in VP
    coordinates, with x0 replaced by the model's estimate (Ho et al. eq. 6-7; the variance
    choice sigma_t^2 = beta_tilde). It is k-diffusion's ancestral step with eta = 1:
    sigma_up = s sqrt(1 - s^2 / sigma^2), sigma_down = s^2 / sigma,
    x_{i+1} = x_i + (sigma_down - sigma_i) d + sigma_up z, d = (x_i - x0_hat) / sigma_i.

    N steps cost N denoiser evaluations; a step to sigma = 0 returns x0_hat (no noise)."""
    n = len(sigmas) - 1
    sigmas = sigmas.to(device=x.device)
    sig, sig_next = sigmas[:-1], sigmas[1:]
    ratio = (sig_next / sig) ** 2
    sigma_up = sig_next * (1.0 - ratio).clamp_min(0.0).sqrt()
    sig, ratio, sigma_up = (v.to(x.dtype) for v in (sig, ratio, sigma_up))
    (noisy,) = _flags(sigmas[1:] > 0)
    noise_sampler = noise_sampler or _default_noise(x)

    for i in range(n):
        denoised = denoise(x, sig[i])
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sig[i], "sigma_hat": sig[i], "denoised": denoised})
        if noisy[i]:
            x = denoised + ratio[i] * (x - denoised) + sigma_up[i] * noise_sampler(i)
        else:
            x = denoised
    return x


@torch.no_grad()
def dpmpp_2m_sample(
    denoise: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    noise_sampler: NoiseSampler | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """DPM-Solver++(2M) (Lu et al. 2022, "DPM-Solver++", Algorithm 2; k-diffusion's
    ``sample_dpmpp_2m``): a deterministic multistep solver of the probability-flow ODE in
    the data-prediction form, one denoiser evaluation per step.

    With lambda = -log sigma, h_i = log(sigma_i / sigma_{i+1}) and D_i = D(x_i, sigma_i):

        first step, and the step into sigma = 0 (first order, DDIM):
            x_{i+1} = (sigma_{i+1} / sigma_i) x_i + (1 - sigma_{i+1} / sigma_i) D_i
        otherwise (second order, from the last two estimates), r = h_{i-1} / h_i:
            D'      = (1 + 1 / (2 r)) D_i - (1 / (2 r)) D_{i-1}
            x_{i+1} = (sigma_{i+1} / sigma_i) x_i + (1 - sigma_{i+1} / sigma_i) D'

    N steps cost N evaluations. ``noise_sampler`` is accepted for a uniform signature and
    never called (the solver adds no noise)."""
    n = len(sigmas) - 1
    sigmas = sigmas.to(device=x.device)
    sig, sig_next = sigmas[:-1], sigmas[1:]
    ratio = sig_next / sig  # sigma_{i+1} / sigma_i, 0 into sigma = 0
    h = torch.log(sig / sig_next.clamp_min(torch.finfo(sigmas.dtype).tiny))
    h_prev = torch.cat([h[:1], h[:-1]])
    r = h_prev / h
    w_new = 1.0 + 1.0 / (2.0 * r)
    w_old = -1.0 / (2.0 * r)
    ratio, w_new, w_old, sig = (v.to(x.dtype) for v in (ratio, w_new, w_old, sig))
    first = [i == 0 for i in range(n)]
    (to_zero,) = _flags(sigmas[1:] == 0)
    old = None
    for i in range(n):
        denoised = denoise(x, sig[i])
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sig[i], "sigma_hat": sig[i], "denoised": denoised})
        target = denoised if first[i] or to_zero[i] else w_new[i] * denoised + w_old[i] * old
        x = ratio[i] * x + (1.0 - ratio[i]) * target
        old = denoised
    return x


@torch.no_grad()
def dpmpp_2m_sde_sample(
    denoise: Denoiser,
    x: Tensor,
    sigmas: Tensor,
    *,
    eta: float = 1.0,
    s_noise: float = 1.0,
    noise_sampler: NoiseSampler | None = None,
    callback: Callback | None = None,
) -> Tensor:
    """DPM-Solver++(2M) SDE (Lu et al. 2022, "DPM-Solver++", section 5 and its SDE variant;
    k-diffusion's ``sample_dpmpp_2m_sde`` with the midpoint correction): the multistep
    data-prediction solver of the reverse SDE, one denoiser evaluation per step. It adds
    fresh noise on every step like ancestral sampling, which corrects the errors of an
    imperfect denoiser instead of carrying them to the end (Karras et al. 2022, section 4:
    stochasticity helps most where the network is least accurate).

    With h_i = log(sigma_i / sigma_{i+1}), q_i = sigma_{i+1} / sigma_i and D_i = D(x_i, sigma_i):

        first order (the step's exact solution for a constant D; with eta = 1 it is the
        DDPM posterior step of :func:`ddpm_sample`):
            x_{i+1} = q_i e^{-eta h_i} x_i + (1 - e^{-(1 + eta) h_i}) D_i
                      + sigma_{i+1} sqrt(1 - e^{-2 eta h_i}) s_noise z
        second order (all but the first step and the step into sigma = 0), r = h_{i-1} / h_i:
            x_{i+1} += (1 - e^{-(1 + eta) h_i}) (D_i - D_{i-1}) / (2 r)
        the step into sigma = 0 returns D_i.

    eta = 0 is the deterministic DPM-Solver++(2M) ODE solver (with the midpoint form of the
    correction). N steps cost N evaluations; noise is drawn on the N - 1 steps that do not
    end at sigma = 0."""
    n = len(sigmas) - 1
    sigmas = sigmas.to(device=x.device)
    sig, sig_next = sigmas[:-1], sigmas[1:]
    tiny = torch.finfo(sigmas.dtype).tiny
    h = torch.log(sig / sig_next.clamp_min(tiny))
    h_prev = torch.cat([h[:1], h[:-1]])
    keep = (sig_next / sig) * torch.exp(-eta * h)  # weight of x_i
    blend = -torch.expm1(-(1.0 + eta) * h)  # weight of D_i (1 into sigma = 0)
    correction = blend * h / (2.0 * h_prev)  # weight of D_i - D_{i-1}
    noise_std = s_noise * sig_next * (-torch.expm1(-2.0 * eta * h)).clamp_min(0.0).sqrt()
    keep, blend, correction, noise_std, sig = (v.to(x.dtype) for v in (keep, blend, correction, noise_std, sig))
    (to_zero,) = _flags(sigmas[1:] == 0)
    noisy = [eta > 0 and not z for z in to_zero]
    noise_sampler = noise_sampler or _default_noise(x)
    old = None
    for i in range(n):
        denoised = denoise(x, sig[i])
        if callback is not None:
            callback({"x": x, "i": i, "sigma": sig[i], "sigma_hat": sig[i], "denoised": denoised})
        if to_zero[i]:
            x = denoised
        else:
            x = keep[i] * x + blend[i] * denoised
            if old is not None:
                x = x + correction[i] * (denoised - old)
            if noisy[i]:
                x = x + noise_std[i] * noise_sampler(i)
        old = denoised
    return x
