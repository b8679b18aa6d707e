"""Preconditioning: the one wrapper between the network and both training and sampling.

The network predicts the noise of a variance-preserving (VP) state (paper sec. 3 and
app. G: eps-prediction)::

    eps_hat = model(x_in, known, frame_index, frame_valid, logsnr)
    x_in    = where(known, x0_known, x_t),   x_t = sqrt(gamma) x0 + sqrt(1 - gamma) eps

with x, eps (B, F, 3, H, W), known (B, F, 1, H, W) (1 = known pixel), frame_index (B, F)
long, frame_valid (B, F) bool, logsnr (B,). Known pixels enter CLEAN (paper sec. 4.2):
the network conditions on them and never denoises them.

:func:`predict_eps` builds exactly that input and calls the network; it is the only place
that does, and both :func:`training_loss` and :func:`denoise` go through it, so the
network sees the same thing in training and in sampling.

Why :func:`denoise` is EDM's denoiser. EDM (Karras et al. 2022) samples the VE state
x_ve = x0 + sigma * eps with a denoiser D(x_ve, sigma) ~ E[x0 | x_ve]. With
gamma = 1 / (1 + sigma^2), x_t = sqrt(gamma) x_ve = x_ve / sqrt(1 + sigma^2) is exactly the
VP state of the same x0 and eps at logsnr = log(gamma / (1 - gamma)) = -2 log sigma, so
an eps-prediction network trained on the VP process estimates E[eps | x_ve], and, since
x0 = x_ve - sigma * eps is linear in eps,

    E[x0 | x_ve] = x_ve - sigma * E[eps | x_ve] = x_ve - sigma * eps_hat.

This is EDM's Table 1 preconditioning for an eps-prediction (VP) network: c_skip = 1,
c_out = -sigma, c_in = 1 / sqrt(1 + sigma^2), c_noise = logsnr (a reparameterisation of
EDM's VP c_noise = t(sigma)). Known pixels are not sampled: D takes the known values there.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor

from vidsched.diffusion.schedules import GammaFn, schedule_logsnr

Model = Callable[[Tensor, Tensor, Tensor, Tensor, Tensor], Tensor]
Denoiser = Callable[[Tensor, Tensor], Tensor]


@dataclass
class Conditioning:
    """What a stage conditions on.

    known_values (B, F, 3, H, W): clean pixel values; only read where known = 1.
    known (B, F, 1, H, W): 1 (or True) = known pixel; passed to the network as given.
    frame_index (B, F) long: the frames' indices in the video (relative positions).
    frame_valid (B, F) bool: False for padding frames (attention-masked in the network).
    """

    known_values: Tensor
    known: Tensor
    frame_index: Tensor
    frame_valid: Tensor

    def known_mask(self) -> Tensor:
        """``known`` as a bool tensor (B, F, 1, H, W)."""
        return _as_bool(self.known)


def _as_bool(mask: Tensor) -> Tensor:
    return mask if mask.dtype == torch.bool else mask != 0


def _per_sample(v: Tensor | float, x: Tensor) -> Tensor:
    """A noise level given as a scalar, 0-d or (B,) tensor -> (B,) in x's dtype/device."""
    v = torch.as_tensor(v, dtype=x.dtype, device=x.device)
    return v.reshape(-1).expand(x.shape[0])


def _bcast(v: Tensor, x: Tensor) -> Tensor:
    """(B,) -> (B, 1, 1, ...) to broadcast against x."""
    return v.reshape(v.shape[0], *([1] * (x.ndim - 1)))


def predict_eps(model: Model, x_t: Tensor, logsnr: Tensor, cond: Conditioning) -> Tensor:
    """The network's noise prediction for the VP state ``x_t`` at ``logsnr`` (B,): the
    single place where the network is called. Known pixels are replaced by their clean
    values before the call (paper sec. 4.2)."""
    x_in = torch.where(cond.known_mask(), cond.known_values.to(x_t.dtype), x_t)
    return model(x_in, cond.known, cond.frame_index, cond.frame_valid, logsnr)


def denoise(
    model: Model, x_ve: Tensor, sigma: Tensor | float, cond: Conditioning
) -> tuple[Tensor, Tensor]:
    """EDM denoiser D(x_ve, sigma) for the eps-prediction VP network (see the module
    docstring for the derivation). Returns ``(D, eps_hat)``.

    x_ve = x0 + sigma * eps is EDM's VE state; sigma is a scalar, 0-d or (B,) tensor
    (> 0). x_t = x_ve / sqrt(1 + sigma^2), logsnr = -2 log sigma,
    eps_hat = predict_eps(model, x_t, logsnr, cond), D = x_ve - sigma * eps_hat, and D takes
    ``known_values`` wherever ``known`` (known pixels are never sampled)."""
    sigma = _per_sample(sigma, x_ve)
    s = _bcast(sigma, x_ve)
    x_t = x_ve * torch.rsqrt(1.0 + s * s)
    logsnr = -2.0 * torch.log(sigma)
    eps_hat = predict_eps(model, x_t, logsnr, cond)
    d = x_ve - s * eps_hat
    d = torch.where(cond.known_mask(), cond.known_values.to(d.dtype), d)
    return d, eps_hat


def make_denoiser(model: Model, cond: Conditioning) -> Denoiser:
    """``D(x_ve, sigma)`` for the samplers, with the network and the stage's conditioning
    bound."""

    def denoiser(x_ve: Tensor, sigma: Tensor) -> Tensor:
        return denoise(model, x_ve, sigma, cond)[0]

    return denoiser


def training_loss(
    model: Model,
    x0: Tensor,
    t: Tensor,
    noise: Tensor,
    cond_known: Tensor,
    frame_index: Tensor,
    frame_valid: Tensor,
    loss_weight_mask: Tensor,
    schedule: str | GammaFn,
) -> Tensor:
    """The paper's eq. 3: squared error of the predicted noise on the pixels to generate.

    gamma = schedule(t) (t (B,) in [0, 1]; ``schedule`` a name of
    :data:`~vidsched.diffusion.schedules.SCHEDULES` or a gamma function),
    x_t = sqrt(gamma) x0 + sqrt(1 - gamma) noise, eps_hat = predict_eps(...) (the same
    call :func:`denoise` makes, with known pixels of ``x0`` entering clean) and

        loss = sum(w * (eps_hat - noise)^2) / sum(w)   (over all B, F, C, H, W elements)

    with w = ``loss_weight_mask`` (broadcast to x0's shape; 1 = unknown pixel of a frame
    to generate, 0 elsewhere; non-negative weights in general), additionally zeroed at
    known pixels (``cond_known``) and padding frames (``frame_valid`` False), which never
    count whatever the mask says. Elements with w = 0 contribute exactly nothing (they are
    selected out with ``where``, so even a non-finite eps_hat there cannot leak in). With
    no weighted element at all the loss is 0.

    gamma is computed as log-SNR in float64 (:func:`schedule_logsnr`) so t = 0 stays
    finite; sqrt(gamma) = sqrt(sigmoid(logsnr)), sqrt(1 - gamma) = sqrt(sigmoid(-logsnr)).
    """
    logsnr = schedule_logsnr(schedule, t.to(x0.device)).to(x0.dtype)
    ls = _bcast(logsnr, x0)
    x_t = torch.sqrt(torch.sigmoid(ls)) * x0 + torch.sqrt(torch.sigmoid(-ls)) * noise
    cond = Conditioning(
        known_values=x0, known=cond_known, frame_index=frame_index, frame_valid=frame_valid
    )
    eps_hat = predict_eps(model, x_t, logsnr, cond)

    w = loss_weight_mask.to(x0.dtype)
    w = torch.where(cond.known_mask(), 0.0, w)
    valid = _as_bool(frame_valid).to(x0.device).reshape(*frame_valid.shape, *[1] * (x0.ndim - 2))
    w = torch.where(valid, w, 0.0)
    w = w.expand_as(x0)
    sq = torch.where(w != 0, w * (eps_hat - noise) ** 2, 0.0)
    return sq.sum() / w.sum().clamp_min(torch.finfo(x0.dtype).tiny)
