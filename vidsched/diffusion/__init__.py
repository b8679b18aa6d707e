"""Diffusion: noise schedules (Chen 2023), the preconditioning shared by training and
sampling (eps-prediction VP network as an EDM denoiser), and the samplers (EDM Heun,
DDPM ancestral) as pure functions of (denoise, x, sigmas)."""

from vidsched.diffusion.precond import (
    Conditioning,
    denoise,
    make_denoiser,
    predict_eps,
    training_loss,
)
from vidsched.diffusion.samplers import (
    EDM_DEFAULTS,
    SAMPLERS,
    ddpm_sample,
    evaluations,
    heun_sample,
)
from vidsched.diffusion.schedules import (
    SCHEDULES,
    cosine,
    gamma_to_logsnr,
    gamma_to_sigma,
    get_schedule,
    karras_sigmas,
    linear,
    logsnr_to_gamma,
    logsnr_to_sigma,
    schedule_logsnr,
    schedule_sigmas,
    sigma_to_gamma,
    sigma_to_logsnr,
    sigmoid,
)

__all__ = [
    "EDM_DEFAULTS",
    "SAMPLERS",
    "SCHEDULES",
    "Conditioning",
    "cosine",
    "ddpm_sample",
    "denoise",
    "evaluations",
    "gamma_to_logsnr",
    "gamma_to_sigma",
    "get_schedule",
    "heun_sample",
    "karras_sigmas",
    "linear",
    "logsnr_to_gamma",
    "logsnr_to_sigma",
    "make_denoiser",
    "predict_eps",
    "schedule_logsnr",
    "schedule_sigmas",
    "sigma_to_gamma",
    "sigma_to_logsnr",
    "sigmoid",
    "training_loss",
]
