"""Preconditioning: the one wrapper between the network and both training and sampling.

The network sees a variance-preserving (VP) state and predicts either its noise
(``"eps"``, the paper's choice, sec. 3 and app. G) or the velocity (``"v"``, Salimans &
Ho 2022, "Progressive Distillation", sec. 4)::

    out  = model(x_in, known, frame_index, frame_valid, logsnr)
    x_in = where(known, x0_known, x_t),   x_t = alpha x0 + s eps,
    alpha = sqrt(sigmoid(logsnr)),  s = sqrt(sigmoid(-logsnr))     (alpha^2 + s^2 = 1)
    eps-prediction: out ~ eps                       x0 = (x_t - s eps) / alpha
    v-prediction:   out ~ v = alpha eps - s x0      x0 = alpha x_t - s v

with x, eps (B, F, 3, H, W), known (B, F, 1, H, W) (1 = known pixel), frame_index (B, F)
long, frame_valid (B, F) bool, logsnr (B,). Known pixels enter CLEAN (paper sec. 4.2):
the network conditions on them and never denoises them.

:func:`network_output` builds exactly that input and calls the network; it is the only
place that does, and both :func:`training_loss` and :func:`denoise` go through it, so the
network sees the same thing in training and in sampling. The prediction type is recorded
in a checkpoint's metadata (``meta["prediction"]``; checkpoints without it are "eps").

Why :func:`denoise` is EDM's denoiser. EDM (Karras et al. 2022) samples the VE state
x_ve = x0 + sigma * eps with a denoiser D(x_ve, sigma) ~ E[x0 | x_ve]. With
gamma = 1 / (1 + sigma^2), x_t = x_ve / sqrt(1 + sigma^2) is exactly the VP state of the
same x0 and eps at logsnr = -2 log sigma (alpha = 1 / sqrt(1 + sigma^2),
s = sigma / sqrt(1 + sigma^2)). Since x0 is linear in the network's target,

    eps-prediction: D = x_ve - sigma * eps_hat
                    (EDM table 1, VP column: c_skip = 1, c_out = -sigma)
    v-prediction:   D = x_ve / (1 + sigma^2) - sigma / sqrt(1 + sigma^2) * v_hat
                    (EDM table 1's c_skip = 1 / (1 + sigma^2), |c_out| = sigma / sqrt(1 + sigma^2)
                     with sigma_data = 1)

and c_in = 1 / sqrt(1 + sigma^2), c_noise = logsnr for both. Why v: an eps-network's
error is multiplied by c_out = -sigma, up to 80 at the first sampling step, so its D
leaves the data range by far at high noise (the runtime had to clip it); a v-network's
c_out stays below 1 in magnitude and its D tends to -v_hat, a bounded estimate, as
sigma grows. Known pixels are not sampled: D takes the known values there.
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


PREDICTIONS = ("eps", "v")


def check_prediction(prediction: str) -> str:
    """``prediction`` if it is one of :data:`PREDICTIONS`, else ValueError."""
    if prediction not in PREDICTIONS:
        raise ValueError(f"unknown prediction type {prediction!r} (one of {', '.join(PREDICTIONS)})")
    return prediction


def network_output(model: Model, x_t: Tensor, logsnr: Tensor, cond: Conditioning) -> Tensor:
    """The network's raw output (its eps or v estimate) for the VP state ``x_t`` at
    ``logsnr`` (B,): the single place where the network is called. Known pixels are
    replaced by their clean values before the call (paper sec. 4.2)."""
    x_in = torch.where(cond.known_mask(), cond.known_values.to(x_t.dtype), x_t)
    return model(x_in, cond.known, cond.frame_index, cond.frame_valid, logsnr)


def predict_eps(model: Model, x_t: Tensor, logsnr: Tensor, cond: Conditioning) -> Tensor:
    """The noise estimate of an eps-prediction network (its raw output)."""
    return network_output(model, x_t, logsnr, cond)


def denoise(
    model: Model, x_ve: Tensor, sigma: Tensor | float, cond: Conditioning, prediction: str = "eps"
) -> tuple[Tensor, Tensor]:
    """EDM denoiser D(x_ve, sigma) for a VP network predicting ``prediction`` ("eps" or
    "v"; see the module docstring for the derivation). Returns ``(D, raw network output)``.

    x_ve = x0 + sigma * eps is EDM's VE state; sigma is a scalar, 0-d or (B,) tensor
    (> 0). x_t = x_ve / sqrt(1 + sigma^2), logsnr = -2 log sigma, out = network_output(...),
    D = x_ve - sigma * out (eps) or x_ve / (1 + sigma^2) - sigma / sqrt(1 + sigma^2) * out (v),
    and D takes ``known_values`` wherever ``known`` (known pixels are never sampled)."""
    check_prediction(prediction)
    sigma = _per_sample(sigma, x_ve)
    s = _bcast(sigma, x_ve)
    c_in = torch.rsqrt(1.0 + s * s)
    logsnr = -2.0 * torch.log(sigma)
    out = network_output(model, x_ve * c_in, logsnr, cond)
    d = x_ve - s * out if prediction == "eps" else x_ve * (c_in * c_in) - (s * c_in) * out
    d = torch.where(cond.known_mask(), cond.known_values.to(d.dtype), d)
    return d, out


def make_denoiser(model: Model, cond: Conditioning, prediction: str = "eps") -> Denoiser:
    """``D(x_ve, sigma)`` for the samplers, with the network, the stage's conditioning and
    the network's prediction type bound."""
    check_prediction(prediction)

    def denoiser(x_ve: Tensor, sigma: Tensor) -> Tensor:
        return denoise(model, x_ve, sigma, cond, prediction)[0]

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
    prediction: str = "eps",
) -> Tensor:
    """The paper's eq. 3: squared error of the network's prediction on the pixels to
    generate. The target is the noise (``prediction="eps"``, the paper's) or the velocity
    v = alpha * noise - s * x0 (``"v"``); the formulas below are written for eps.

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
    check_prediction(prediction)
    logsnr = schedule_logsnr(schedule, t.to(x0.device)).to(x0.dtype)
    ls = _bcast(logsnr, x0)
    alpha, s = torch.sqrt(torch.sigmoid(ls)), torch.sqrt(torch.sigmoid(-ls))
    x_t = alpha * x0 + s * noise
    cond = Conditioning(
        known_values=x0, known=cond_known, frame_index=frame_index, frame_valid=frame_valid
    )
    out = network_output(model, x_t, logsnr, cond)
    target = noise if prediction == "eps" else alpha * noise - s * x0

    w = loss_weight_mask.to(x0.dtype)
    w = torch.where(cond.known_mask(), 0.0, w)
    valid = _as_bool(frame_valid).to(x0.device).reshape(*frame_valid.shape, *[1] * (x0.ndim - 2))
    w = torch.where(valid, w, 0.0)
    w = w.expand_as(x0)
    sq = torch.where(w != 0, w * (out - target) ** 2, 0.0)
    return sq.sum() / w.sum().clamp_min(torch.finfo(x0.dtype).tiny)
