"""Diffusion: noise schedules (Chen 2023), the preconditioning shared by training and
sampling (eps- or v-prediction VP network as an EDM denoiser), the samplers (EDM Heun,
DDPM ancestral, DPM-Solver++(2M)) as pure functions of (denoise, x, sigmas), and the one
table of samplers by name (:mod:`vidsched.diffusion.registry`).

Names are loaded on first use, so that ``vidsched.diffusion.registry`` (imported by the
compiler for evaluation counts, and by the CLI for its choices) does not load torch.
"""

from importlib import import_module

_WHERE = {
    "precond": ("PREDICTIONS", "Conditioning", "denoise", "make_denoiser", "network_output", "predict_eps",
                "training_loss"),
    "registry": ("DEFAULT_SAMPLER", "RUN_SAMPLER", "RUN_STEPS", "SAMPLERS", "SamplerSpec", "evaluations", "sampler_spec"),
    "samplers": ("EDM_DEFAULTS", "ddpm_sample", "dpmpp_2m_sample", "heun_sample"),
    "schedules": ("SCHEDULES", "cosine", "gamma_to_logsnr", "gamma_to_sigma", "get_schedule", "karras_sigmas",
                  "linear", "logsnr_to_gamma", "logsnr_to_sigma", "schedule_logsnr", "schedule_sigmas",
                  "sigma_to_gamma", "sigma_to_logsnr", "sigmoid"),
}
_MODULE_OF = {name: module for module, names in _WHERE.items() for name in names}

__all__ = sorted(_MODULE_OF)


def __getattr__(name: str):
    module = _MODULE_OF.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
