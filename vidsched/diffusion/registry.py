"""The samplers the runtime knows, in one table: name -> :class:`SamplerSpec`.

Every place that dispatches on a sampler's name reads this table: the runtime's sigma
grid and sample call (:mod:`vidsched.runtime.executor`), the evaluation count the
compiler writes into a plan's statistics, and the CLI's ``--sampler`` choices. Adding a
sampler is one entry here and its function in :mod:`vidsched.diffusion.samplers`.

This module imports no torch at import time (``vidsched compile`` never loads torch):
the sample function and the sigma grid are looked up when they are first used.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import Any, Literal


@dataclass(frozen=True)
class SamplerSpec:
    """One sampler: what it costs, its sigma grid and its sample function."""

    name: str
    summary: str
    function: str  # the sample function's name in vidsched.diffusion.samplers
    grid: Literal["karras", "schedule"]  # EDM's Karras grid, or the training schedule's
    second_order: bool  # Heun: 2N - 1 network evaluations for N steps; else N
    options: tuple[str, ...] = ()  # SamplerSettings fields passed to the function

    def evaluations(self, steps: int) -> int:
        """Network evaluations of one stage of ``steps`` steps ending at sigma 0: Heun
        2N - 1 (Karras et al. 2022, Alg. 2: no correction on the last step); DDPM
        ancestral sampling and the DPM-Solver++ samplers N."""
        if steps < 1:
            raise ValueError("steps must be at least 1")
        return 2 * steps - 1 if self.second_order else steps

    @property
    def sample(self) -> Callable[..., Any]:
        """The sample function, ``f(denoise, x, sigmas, *, noise_sampler, callback, **options)``."""
        return getattr(import_module("vidsched.diffusion.samplers"), self.function)

    def sigmas(
        self,
        steps: int,
        *,
        sigma_min: float,
        sigma_max: float,
        rho: float,
        schedule: str,
        start_sigma: float | None = None,
    ):
        """The decreasing grid of ``steps + 1`` noise levels, ending at 0 (a float64 tensor).
        ``start_sigma`` (SDEdit) starts the grid there instead of at ``sigma_max``."""
        from vidsched.diffusion.schedules import karras_sigmas, schedule_sigmas

        if self.grid == "schedule":
            return schedule_sigmas(schedule, steps, start_sigma=start_sigma)
        top = sigma_max if start_sigma is None else min(start_sigma, sigma_max)
        return karras_sigmas(steps, min(sigma_min, top), top, rho)


SAMPLERS: dict[str, SamplerSpec] = {
    spec.name: spec
    for spec in (
        SamplerSpec("heun", "EDM's stochastic Heun (Karras et al. 2022, Alg. 2)", "heun_sample", "karras", True,
                    options=("s_churn", "s_tmin", "s_tmax", "s_noise")),
        SamplerSpec("ddpm", "DDPM ancestral sampling on the training schedule", "ddpm_sample", "schedule", False),
        SamplerSpec("dpmpp_2m", "DPM-Solver++(2M), deterministic multistep", "dpmpp_2m_sample", "karras", False),
        SamplerSpec("dpmpp_2m_sde", "DPM-Solver++(2M) SDE, stochastic multistep", "dpmpp_2m_sde_sample", "karras",
                    False, options=("s_noise",)),
        # DDPM's posterior step is k-diffusion's Euler ancestral step (eta = 1): on the Karras
        # grid it can start anywhere (an SDEdit start), which the training schedule cannot.
        SamplerSpec("euler_a", "ancestral sampling (DDPM's step) on the Karras grid", "ddpm_sample", "karras", False),
    )
}


#: The sampler a plan's statistics assume when none is named (EDM's Heun; the paper's appendix G).
DEFAULT_SAMPLER = "heun"

#: What the runtime samples with when none is named (``vidsched run``, the executor's
#: settings, the evaluation methods), chosen by measurement (docs/results.md, section 7:
#: five held-out clips at their own resolution, object and logo masks, the corpus model).
#: Ancestral sampling at 10 steps gave the best hole PSNR and E_warp of every sampler and
#: step count tried, with 5x fewer evaluations than Heun 25; the deterministic solvers
#: (Heun, DPM-Solver++(2M)) drift into colour clutter with an imperfect network, which the
#: fresh noise of each ancestral step corrects (Karras et al. 2022, section 4).
RUN_SAMPLER = "euler_a"
RUN_STEPS = 10


def sampler_spec(sampler: str | SamplerSpec | Callable[..., Any]) -> SamplerSpec:
    """The entry of :data:`SAMPLERS` for a name, a spec or a sample function;
    ``ValueError`` naming the known samplers otherwise."""
    if isinstance(sampler, SamplerSpec):
        return sampler
    if isinstance(sampler, str):
        spec = SAMPLERS.get(sampler)
    else:
        spec = next((s for s in SAMPLERS.values() if getattr(sampler, "__name__", None) == s.function
                     and s.sample is sampler), None)
    if spec is None:
        raise ValueError(f"unknown sampler {sampler!r} ({', '.join(SAMPLERS)})")
    return spec


def evaluations(sampler: str | SamplerSpec | Callable[..., Any], steps: int) -> int:
    """Denoiser evaluations of one stage with ``steps`` steps (see :meth:`SamplerSpec.evaluations`)."""
    return sampler_spec(sampler).evaluations(steps)
