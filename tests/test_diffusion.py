"""vidsched.diffusion: schedules, preconditioning and samplers.

The samplers are checked against an analytic Gaussian denoiser: for data x0 ~ N(mu, s^2)
per pixel and x = x0 + sigma * eps, E[x0 | x] = (s^2 x + sigma^2 mu) / (s^2 + sigma^2)
exactly, so a correct sampler must return samples with mean mu and std s.
"""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from vidsched.diffusion import (  # noqa: E402
    EDM_DEFAULTS,
    SAMPLERS,
    Conditioning,
    cosine,
    ddpm_sample,
    denoise,
    evaluations,
    gamma_to_logsnr,
    gamma_to_sigma,
    heun_sample,
    karras_sigmas,
    linear,
    logsnr_to_gamma,
    logsnr_to_sigma,
    make_denoiser,
    schedule_logsnr,
    schedule_sigmas,
    sigma_to_gamma,
    sigma_to_logsnr,
    sigmoid,
    training_loss,
)

MU, S = 1.5, 0.5
N_PIX = 20_000
F64 = torch.float64


def gaussian_denoiser(x, sigma):
    return (S * S * x + sigma * sigma * MU) / (S * S + sigma * sigma)


def counting(fn):
    def wrapped(x, sigma):
        wrapped.calls += 1
        return fn(x, sigma)

    wrapped.calls = 0
    return wrapped


def seeded(like, seed):
    g = torch.Generator().manual_seed(seed)
    return lambda i: torch.randn(like.shape, generator=g, dtype=like.dtype)


def start(sigmas, seed=0, n=N_PIX):
    g = torch.Generator().manual_seed(seed)
    return sigmas[0] * torch.randn(n, generator=g)


def assert_gaussian(x, mu=MU, s=S, rel=0.03):
    assert torch.isfinite(x).all()
    assert abs(x.mean().item() - mu) < rel * abs(mu), x.mean().item()
    assert abs(x.std().item() - s) < rel * s, x.std().item()


# ---- schedules ---------------------------------------------------------------------------
def _s(u):
    return 1.0 / (1.0 + math.exp(-u))


@pytest.mark.parametrize(
    "fn, kwargs, t, expected",
    [
        (linear, {}, 0.0, 1.0 - 1e-9),
        (linear, {}, 0.5, 0.5),
        (linear, {}, 0.25, 0.75),
        (linear, {}, 1.0, 1e-9),
        (cosine, {}, 0.0, 1.0 - 1e-9),
        (cosine, {}, 0.5, 0.5),
        (cosine, {}, 0.25, math.cos(math.pi / 8) ** 2),
        (cosine, {}, 1.0, 1e-9),
        (sigmoid, {}, 0.0, 1.0 - 1e-9),
        (sigmoid, {}, 0.5, 0.5),
        (sigmoid, {}, 0.25, (_s(3) - _s(-1.5)) / (_s(3) - _s(-3))),
        (sigmoid, {}, 1.0, 1e-9),
        # non-default parameters, Chen 2023 Algorithm 1 by hand
        (cosine, {"start": 0.2, "end": 1.0, "tau": 2.0}, 0.5,
         (math.cos(math.pi / 2) ** 4 - math.cos(0.6 * math.pi / 2) ** 4)
         / (math.cos(math.pi / 2) ** 4 - math.cos(0.2 * math.pi / 2) ** 4)),
        (sigmoid, {"start": 0.0, "end": 3.0, "tau": 0.7}, 0.5,
         (_s(3 / 0.7) - _s(1.5 / 0.7)) / (_s(3 / 0.7) - _s(0.0))),
        (sigmoid, {"start": 0.0, "end": 3.0, "tau": 0.7}, 1.0, 1e-9),
        (linear, {"clip_min": 1e-4}, 0.0, 1.0 - 1e-4),
    ],
)
def test_schedule_values(fn, kwargs, t, expected):
    got = fn(torch.tensor([t], dtype=F64), **kwargs)
    assert got.dtype == F64
    assert got.item() == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize("fn", [linear, cosine, sigmoid])
def test_schedules_vectorised_monotone_clipped(fn):
    t = torch.linspace(0, 1, 1001, dtype=F64)
    g = fn(t)
    assert g.shape == t.shape
    assert (g >= 1e-9).all() and (g <= 1 - 1e-9).all()
    assert (g[1:] <= g[:-1]).all()
    inner = g[(t > 0.01) & (t < 0.99)]
    assert (inner[1:] < inner[:-1]).all()
    # float32 in, float32 out; the log-SNR is finite at both ends in any dtype
    assert fn(t.float()).dtype == torch.float32
    ls = schedule_logsnr(fn, t.float())
    assert ls.dtype == torch.float32 and torch.isfinite(ls).all()
    assert ls[0].item() == pytest.approx(math.log((1 - 1e-9) / 1e-9), rel=1e-5)
    assert (ls[1:] <= ls[:-1]).all()


def test_schedule_by_name_and_kwargs():
    t = torch.tensor([0.3], dtype=F64)
    assert schedule_logsnr("sigmoid", t, tau=0.5).item() == pytest.approx(
        gamma_to_logsnr(sigmoid(t, tau=0.5)).item()
    )
    with pytest.raises(ValueError):
        schedule_logsnr("quadratic", t)


def test_conversions_round_trip():
    gamma = torch.cat([torch.logspace(-9, -1e-3, 200, dtype=F64), torch.rand(200, dtype=F64) * 0.998 + 0.001])
    logsnr = gamma_to_logsnr(gamma)
    sigma = gamma_to_sigma(gamma)
    torch.testing.assert_close(logsnr, torch.log(gamma / (1 - gamma)))
    torch.testing.assert_close(logsnr_to_gamma(logsnr), gamma, rtol=1e-12, atol=0)
    torch.testing.assert_close(logsnr_to_sigma(logsnr), sigma, rtol=1e-12, atol=0)
    torch.testing.assert_close(sigma_to_logsnr(sigma), logsnr, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(sigma_to_gamma(sigma), gamma, rtol=1e-12, atol=0)
    # the VE state: x_t / sqrt(gamma) = x0 + sigma * eps
    x0, eps = torch.randn(2, 400, dtype=F64)
    x_t = gamma.sqrt() * x0 + (1 - gamma).sqrt() * eps
    torch.testing.assert_close(x_t / gamma.sqrt(), x0 + sigma * eps, rtol=1e-9, atol=1e-9)
    # hand-computed points
    assert gamma_to_logsnr(torch.tensor(0.5, dtype=F64)).item() == 0.0
    assert gamma_to_sigma(torch.tensor(0.5, dtype=F64)).item() == pytest.approx(1.0)
    assert sigma_to_gamma(torch.tensor(80.0, dtype=F64)).item() == pytest.approx(1 / 6401)


def test_karras_sigmas():
    s = karras_sigmas(100)
    assert s.shape == (101,) and s.dtype == torch.float32
    assert s[0].item() == pytest.approx(80.0)
    assert s[99].item() == pytest.approx(0.002, rel=1e-5)
    assert s[100].item() == 0.0
    assert (s[1:] < s[:-1]).all()
    # eq. 5 at an interior point
    lo, hi = 0.002 ** (1 / 7), 80 ** (1 / 7)
    assert s[33].item() == pytest.approx((hi + 33 / 99 * (lo - hi)) ** 7, rel=1e-6)
    s1 = karras_sigmas(1, sigma_max=10.0, dtype=F64)
    assert s1[0].item() == pytest.approx(10.0, rel=1e-12) and s1[1].item() == 0.0
    assert karras_sigmas(5, 0.01, 5.0, 3.0).shape == (6,)


def test_schedule_sigmas():
    s = schedule_sigmas("linear", 2, dtype=F64)
    assert s.shape == (3,)
    assert s[0].item() == pytest.approx(math.sqrt((1 - 1e-9) / 1e-9))
    assert s[1].item() == pytest.approx(1.0)  # gamma(0.5) = 0.5
    assert s[2].item() == 0.0
    for kind in ("linear", "cosine", "sigmoid"):
        s = schedule_sigmas(kind, 1000)
        assert s.shape == (1001,) and s[-1] == 0 and torch.isfinite(s).all()
        assert (s[1:] < s[:-1]).all()
        t = torch.tensor([0.3], dtype=F64)
        assert schedule_sigmas(kind, 10, dtype=F64)[7].item() == pytest.approx(
            gamma_to_sigma({"linear": linear, "cosine": cosine, "sigmoid": sigmoid}[kind](t)).item()
        )


# ---- samplers against the analytic Gaussian denoiser -------------------------------------
@pytest.mark.parametrize("n", [1, 2, 10, 100])
def test_evaluation_counts(n):
    d = counting(gaussian_denoiser)
    heun_sample(d, start(karras_sigmas(n), n=10), karras_sigmas(n))
    assert d.calls == 2 * n - 1 == evaluations("heun", n) == evaluations(heun_sample, n)
    d = counting(gaussian_denoiser)
    heun_sample(d, start(karras_sigmas(n), n=10), karras_sigmas(n), s_churn=40.0)
    assert d.calls == 2 * n - 1
    d = counting(gaussian_denoiser)
    ddpm_sample(d, start(schedule_sigmas("cosine", n), n=10), schedule_sigmas("cosine", n))
    assert d.calls == n == evaluations("ddpm", n) == evaluations(ddpm_sample, n)
    assert evaluations("heun", n) == SAMPLERS["heun"].evaluations(n)


def test_evaluations_paper_value_and_errors():
    assert evaluations("heun", 100) == 199  # paper, app. G
    with pytest.raises(ValueError):
        evaluations("euler", 10)
    with pytest.raises(ValueError):
        evaluations(print, 10)


def test_heun_deterministic_gaussian():
    sigmas = karras_sigmas(100)
    x_T = start(sigmas)
    x = heun_sample(gaussian_denoiser, x_T, sigmas)
    assert_gaussian(x)
    # the probability-flow ODE is solvable here: x(0) = mu + s / sqrt(s^2 + sigma_max^2) (x_T - mu);
    # Heun's global error at 100 EDM steps is ~3e-3 at worst (~1.3e-2 at 50, 4x per halving)
    exact = MU + S / math.sqrt(S * S + 80.0**2) * (x_T - MU)
    err = (x - exact).abs()
    assert err.max().item() < 5e-3 and err.mean().item() < 1e-3


def test_heun_is_second_order():
    errs = []
    for n in (8, 16):
        sigmas = karras_sigmas(n, dtype=F64)
        x_T = start(sigmas, n=1000).double()
        x = heun_sample(gaussian_denoiser, x_T, sigmas)
        errs.append((x - (MU + S / math.sqrt(S * S + 6400.0) * (x_T - MU))).abs().max().item())
    assert errs[1] < errs[0] / 3  # ~4x for a 2nd-order method


def _exact_ode(x_T, sigma_max=80.0):
    return MU + S / math.sqrt(S * S + sigma_max**2) * (x_T - MU)


def test_dpmpp_2m_solves_the_gaussian_ode_and_is_second_order():
    """DPM-Solver++(2M) on Gaussian data, where the probability-flow ODE has a closed
    form: close at 40 steps (as close as Heun at 40 steps, which costs 79 evaluations),
    and its error falls ~4x per halving of the step (2nd order)."""
    from vidsched.diffusion.samplers import dpmpp_2m_sample

    errs = []
    for n in (10, 20, 40):
        sigmas = karras_sigmas(n, dtype=F64)
        x_T = start(sigmas, n=1000).double()
        x = dpmpp_2m_sample(gaussian_denoiser, x_T, sigmas)
        errs.append((x - _exact_ode(x_T)).abs().max().item())
    assert errs[1] < errs[0] / 3 and errs[2] < errs[1] / 3, errs
    sigmas = karras_sigmas(40)
    x = dpmpp_2m_sample(gaussian_denoiser, start(sigmas), sigmas)
    assert_gaussian(x)
    heun = heun_sample(gaussian_denoiser, start(sigmas), sigmas)
    exact = _exact_ode(start(sigmas))
    assert (x - exact).abs().max() < 1.2 * (heun - exact).abs().max()


def test_dpmpp_2m_evaluation_count_and_first_order_ends():
    """N steps cost N evaluations (the plan statistics count N); one step into sigma = 0
    returns the denoised estimate exactly (first order); no noise is ever drawn."""
    from vidsched.diffusion.samplers import dpmpp_2m_sample

    calls = []

    def counting(x, sigma):
        calls.append(float(sigma))
        return gaussian_denoiser(x, sigma)

    def no_noise(i):
        raise AssertionError("DPM-Solver++(2M) must not draw noise")

    sigmas = karras_sigmas(12)
    dpmpp_2m_sample(counting, start(sigmas), sigmas, noise_sampler=no_noise)
    assert len(calls) == 12 == evaluations("dpmpp_2m", 12) == evaluations(dpmpp_2m_sample, 12)
    one = torch.tensor([5.0, 0.0])
    x = torch.randn(100)
    torch.testing.assert_close(dpmpp_2m_sample(gaussian_denoiser, x, one), gaussian_denoiser(x, one[0]), rtol=0, atol=0)


@pytest.mark.parametrize("steps", [10, 25, 50])
def test_dpmpp_2m_sde_samples_the_gaussian(steps):
    """The stochastic multistep solver draws from the data distribution at 50 steps, and
    with few steps its spread is closer to the data's than ancestral sampling's (which
    shrinks it: std 0.30 for 0.5 at 10 steps on this case)."""
    from vidsched.diffusion.samplers import dpmpp_2m_sde_sample

    sigmas = karras_sigmas(steps)
    x = dpmpp_2m_sde_sample(gaussian_denoiser, start(sigmas, seed=11), sigmas,
                            noise_sampler=seeded(torch.zeros(N_PIX), 12))
    if steps >= 50:
        assert_gaussian(x)
    ancestral = ddpm_sample(gaussian_denoiser, start(sigmas, seed=11), sigmas,
                            noise_sampler=seeded(torch.zeros(N_PIX), 12))
    assert abs(x.mean().item() - MU) < 0.01
    assert abs(x.std().item() - S) < 0.5 * abs(ancestral.std().item() - S)


def test_dpmpp_2m_sde_counts_and_noise():
    """N steps cost N evaluations and draw noise on every step but the one into sigma = 0;
    eta = 0 draws none; s_noise scales the noise."""
    from vidsched.diffusion.samplers import dpmpp_2m_sde_sample

    sigmas = karras_sigmas(12)
    d, asked = counting(gaussian_denoiser), []

    def noise(i):
        asked.append(i)
        return torch.zeros(10)

    dpmpp_2m_sde_sample(d, start(sigmas, n=10), sigmas, noise_sampler=noise)
    assert d.calls == 12 == evaluations("dpmpp_2m_sde", 12) == SAMPLERS["dpmpp_2m_sde"].evaluations(12)
    assert asked == list(range(11))
    asked.clear()
    dpmpp_2m_sde_sample(gaussian_denoiser, start(sigmas, n=10), sigmas, eta=0.0, noise_sampler=noise)
    assert asked == []
    x_T = start(sigmas, n=1000)
    quiet = dpmpp_2m_sde_sample(gaussian_denoiser, x_T, sigmas, s_noise=0.0, noise_sampler=seeded(x_T, 1))
    loud = dpmpp_2m_sde_sample(gaussian_denoiser, x_T, sigmas, s_noise=1.0, noise_sampler=seeded(x_T, 1))
    assert not torch.equal(quiet, loud)


def test_dpmpp_2m_sde_first_step_is_the_ddpm_step_and_eta0_solves_the_ode():
    """With eta = 1 its first-order step is DDPM's posterior step (the same noise gives the
    same result); with eta = 0 it is a 2nd-order solver of the probability-flow ODE."""
    from vidsched.diffusion.samplers import dpmpp_2m_sde_sample

    two = torch.tensor([20.0, 3.0, 0.0], dtype=F64)
    x = start(two, n=1000).double()
    like = torch.zeros(1000, dtype=F64)
    torch.testing.assert_close(dpmpp_2m_sde_sample(gaussian_denoiser, x, two[:2], noise_sampler=seeded(like, 3)),
                               ddpm_sample(gaussian_denoiser, x, two[:2], noise_sampler=seeded(like, 3)))
    errs = []
    for n in (10, 20, 40):
        sigmas = karras_sigmas(n, dtype=F64)
        x_T = start(sigmas, n=1000).double()
        errs.append((dpmpp_2m_sde_sample(gaussian_denoiser, x_T, sigmas, eta=0.0) - _exact_ode(x_T)).abs().max().item())
    assert errs[1] < errs[0] / 3 and errs[2] < errs[1] / 3, errs


def test_euler_a_is_ancestral_sampling_on_the_karras_grid():
    spec = SAMPLERS["euler_a"]
    assert spec.sample is ddpm_sample and spec.grid == "karras"
    assert spec.evaluations(7) == 7


def test_ddpm_enters_its_own_schedule_part_way_for_an_sdedit_start():
    """DDPM starts from a guess (SDEdit) at the time t where its training schedule reaches
    the start sigma, and spaces its steps evenly in t from there down to 0."""
    from vidsched.diffusion.schedules import schedule_logsnr, schedule_sigmas, schedule_time

    full = schedule_sigmas("cosine", 10, dtype=F64)
    part = SAMPLERS["ddpm"].sigmas(10, sigma_min=0.002, sigma_max=80.0, rho=7.0, schedule="cosine", start_sigma=0.25)
    assert len(part) == 11 and float(part[-1]) == 0.0
    assert abs(float(part[0]) - 0.25) < 1e-6
    assert bool((part[:-1] > part[1:]).all())  # strictly decreasing
    assert float(full[0]) > 1e4  # the full grid starts at the schedule's top
    t = schedule_time("cosine", 0.25)
    assert abs(float(schedule_logsnr("cosine", torch.tensor([t], dtype=F64))[0]) + 2 * math.log(0.25)) < 1e-9
    assert schedule_time("cosine", 1e12) == 1.0  # above the schedule's top: start at the top


def test_heun_churn_gaussian():
    sigmas = karras_sigmas(64)
    x = heun_sample(
        gaussian_denoiser, start(sigmas, seed=1), sigmas,
        s_churn=40.0, s_tmin=0.05, s_tmax=50.0, s_noise=1.0, noise_sampler=seeded(torch.zeros(N_PIX), 2),
    )
    assert_gaussian(x)


@pytest.mark.parametrize("kind", ["linear", "cosine", "sigmoid"])
def test_ddpm_gaussian(kind):
    sigmas = schedule_sigmas(kind, 1000)
    x = ddpm_sample(gaussian_denoiser, start(sigmas, seed=3), sigmas, noise_sampler=seeded(torch.zeros(N_PIX), 4))
    assert_gaussian(x)


def test_ddpm_on_karras_grid():
    sigmas = karras_sigmas(250)
    x = ddpm_sample(gaussian_denoiser, start(sigmas, seed=5), sigmas, noise_sampler=seeded(torch.zeros(N_PIX), 6))
    assert_gaussian(x)


def test_ddpm_last_step_returns_denoised():
    sigmas = torch.tensor([5.0, 0.0])
    x = torch.randn(100)
    torch.testing.assert_close(ddpm_sample(gaussian_denoiser, x, sigmas), gaussian_denoiser(x, sigmas[0]), rtol=0, atol=0)


def test_seeded_noise_is_deterministic():
    x_T = start(karras_sigmas(20), n=1000)
    like = torch.zeros(1000)
    runs = {
        seed: heun_sample(gaussian_denoiser, x_T, karras_sigmas(20), s_churn=10.0, noise_sampler=seeded(like, seed))
        for seed in (7, 8)
    }
    again = heun_sample(gaussian_denoiser, x_T, karras_sigmas(20), s_churn=10.0, noise_sampler=seeded(like, 7))
    assert torch.equal(runs[7], again) and not torch.equal(runs[7], runs[8])
    s = schedule_sigmas("sigmoid", 30)
    a = ddpm_sample(gaussian_denoiser, x_T, s, noise_sampler=seeded(like, 9))
    b = ddpm_sample(gaussian_denoiser, x_T, s, noise_sampler=seeded(like, 9))
    assert torch.equal(a, b)
    # deterministic Heun draws no noise at all
    assert torch.equal(heun_sample(gaussian_denoiser, x_T, karras_sigmas(20)),
                       heun_sample(gaussian_denoiser, x_T, karras_sigmas(20)))


def test_noise_sampler_calls_and_callback():
    n = 10
    sigmas = karras_sigmas(n)
    asked, seen = [], []

    def noise(i):
        asked.append(i)
        return torch.zeros(4)

    heun_sample(gaussian_denoiser, torch.ones(4), sigmas, s_churn=5.0, s_tmin=0.1, s_tmax=10.0,
                noise_sampler=noise, callback=lambda info: seen.append(info["i"]))
    assert asked == [i for i in range(n) if 0.1 <= sigmas[i].item() <= 10.0]
    assert seen == list(range(n))
    asked.clear()
    heun_sample(gaussian_denoiser, torch.ones(4), sigmas, noise_sampler=noise)
    assert asked == []  # no churn: no noise
    ddpm_sample(gaussian_denoiser, torch.ones(4), sigmas, noise_sampler=noise)
    assert asked == list(range(n - 1))  # the step to sigma 0 adds none


def test_edm_defaults():
    assert EDM_DEFAULTS == {"sigma_min": 0.002, "sigma_max": 80.0, "rho": 7.0, "s_churn": 0.0,
                            "s_tmin": 0.0, "s_tmax": float("inf"), "s_noise": 1.0}


# ---- preconditioning ---------------------------------------------------------------------
B, FR, H, W = 2, 4, 6, 5


def make_cond(dtype=torch.float32, seed=0, shape=(B, FR, H, W)):
    b, f, h, w = shape
    g = torch.Generator().manual_seed(seed)
    known = (torch.rand(b, f, 1, h, w, generator=g) < 0.4).to(dtype)
    values = torch.randn(b, f, 3, h, w, generator=g, dtype=dtype)
    frame_index = torch.arange(f).repeat(b, 1)
    frame_valid = torch.ones(b, f, dtype=torch.bool)
    frame_valid[1, -1] = False
    return Conditioning(values, known, frame_index, frame_valid)


class Recorder:
    """A fake network that records its inputs and returns a fixed or computed output."""

    def __init__(self, out=None):
        self.out = out
        self.inputs = []

    def __call__(self, x, known, frame_index, frame_valid, logsnr):
        b, f, c, h, w = x.shape
        assert c == 3 and known.shape == (b, f, 1, h, w)
        assert frame_index.shape == frame_valid.shape == (b, f) and logsnr.shape == (b,)
        assert frame_index.dtype == torch.long and frame_valid.dtype == torch.bool
        self.inputs.append((x.clone(), logsnr.clone()))
        out = self.out(x, logsnr) if callable(self.out) else self.out
        return torch.randn_like(x) if out is None else out


def test_denoise_keeps_known_pixels_and_feeds_them_clean():
    cond = make_cond()
    model = Recorder()
    x_ve = 3.0 * torch.randn(B, FR, 3, H, W)
    sigma = torch.tensor([3.0, 0.7])
    d, eps_hat = denoise(model, x_ve, sigma, cond)
    k = cond.known.bool().expand_as(x_ve)
    assert torch.equal(d[k], cond.known_values[k])
    x_in, logsnr = model.inputs[0]
    assert torch.equal(x_in[k], cond.known_values[k])
    x_t = x_ve / torch.sqrt(1 + sigma**2).view(B, 1, 1, 1, 1)
    torch.testing.assert_close(x_in[~k], x_t[~k])
    torch.testing.assert_close(logsnr, -2 * torch.log(sigma))
    torch.testing.assert_close(d[~k], (x_ve - sigma.view(B, 1, 1, 1, 1) * eps_hat)[~k])


def test_denoise_accepts_scalar_sigma():
    cond = make_cond()
    eps = torch.randn(B, FR, 3, H, W)
    x_ve = torch.randn(B, FR, 3, H, W)
    a, _ = denoise(Recorder(eps), x_ve, torch.tensor(2.0), cond)
    b, _ = denoise(Recorder(eps), x_ve, torch.tensor([2.0, 2.0]), cond)
    c, _ = denoise(Recorder(eps), x_ve, 2.0, cond)
    assert torch.equal(a, b) and torch.equal(a, c)


def test_oracle_model_recovers_x0():
    """A network returning the true noise makes D the clean data: the VP/VE conversion
    (x_t = x_ve / sqrt(1 + sigma^2), D = x_ve - sigma eps) is consistent."""
    g = torch.Generator().manual_seed(1)
    x0 = torch.randn(B, FR, 3, H, W, generator=g, dtype=F64)
    eps = torch.randn(B, FR, 3, H, W, generator=g, dtype=F64)
    cond = make_cond(F64)
    cond.known_values = x0
    for sigma in (torch.tensor([0.002, 80.0], dtype=F64), torch.tensor([1.0, 31622.0], dtype=F64)):
        x_ve = x0 + sigma.view(B, 1, 1, 1, 1) * eps

        def oracle(x, logsnr):
            # the network sees the VP state of the same x0, eps at this logsnr (unknown pixels)
            gamma = torch.sigmoid(logsnr).view(B, 1, 1, 1, 1)
            k = cond.known.bool().expand_as(x)
            torch.testing.assert_close(x[~k], (gamma.sqrt() * x0 + (1 - gamma).sqrt() * eps)[~k])
            return eps

        d, eps_hat = denoise(Recorder(oracle), x_ve, sigma, cond)
        torch.testing.assert_close(d, x0, rtol=1e-9, atol=1e-9 * sigma.max().item())


def test_make_denoiser_heun_end_to_end():
    """The full path (network -> denoise -> heun) with the exact eps-predictor for Gaussian
    data: unknown pixels come out N(mu, s^2), known pixels come out as given."""

    def gaussian_eps(x_t, logsnr):
        a2 = torch.sigmoid(logsnr).view(-1, 1, 1, 1, 1)
        b2 = torch.sigmoid(-logsnr).view(-1, 1, 1, 1, 1)
        return b2.sqrt() * (x_t - a2.sqrt() * MU) / (a2 * S * S + b2)

    shape = (8, 4, 24, 24)
    cond = make_cond(seed=3, shape=shape)
    sigmas = karras_sigmas(40)
    g = torch.Generator().manual_seed(11)
    x = sigmas[0] * torch.randn(shape[0], shape[1], 3, *shape[2:], generator=g)
    out = heun_sample(make_denoiser(Recorder(gaussian_eps), cond), x, sigmas)
    k = cond.known.bool().expand_as(out)
    torch.testing.assert_close(out[k], cond.known_values[k], rtol=0, atol=1e-5)
    assert (~k).sum() > N_PIX
    assert_gaussian(out[~k])


def _gaussian_optimal(prediction):
    """The exact (Bayes-optimal) network for data x0 ~ N(MU, S^2) per pixel, predicting
    eps or v from the VP state: E[eps | x_t] = b (x_t - a MU) / (a^2 S^2 + b^2),
    E[x0 | x_t] = MU + a S^2 (x_t - a MU) / (a^2 S^2 + b^2), E[v] = a E[eps] - b E[x0]."""

    def net(x_t, logsnr):
        a = torch.sigmoid(logsnr).sqrt().view(-1, 1, 1, 1, 1).to(x_t.dtype)
        b = torch.sigmoid(-logsnr).sqrt().view(-1, 1, 1, 1, 1).to(x_t.dtype)
        denom = a * a * S * S + b * b
        eps = b * (x_t - a * MU) / denom
        x0 = MU + a * S * S * (x_t - a * MU) / denom
        return eps if prediction == "eps" else a * eps - b * x0

    return net


@pytest.mark.parametrize("prediction", ["eps", "v"])
def test_denoise_is_the_exact_gaussian_denoiser(prediction):
    """With the optimal network of either prediction type, D is EDM's exact denoiser for
    Gaussian data, D*(x, sigma) = MU + S^2 / (S^2 + sigma^2) (x - MU), at every noise level
    from sigma_min to far beyond sigma_max."""
    cond = make_cond(F64, seed=5)
    g = torch.Generator().manual_seed(2)
    x_ve = torch.randn(B, FR, 3, H, W, generator=g, dtype=F64)
    for sig in (0.002, 0.3, 1.0, 7.0, 80.0, 1000.0):
        sigma = torch.tensor([sig, sig], dtype=F64)
        x = MU + 3.0 * sig * x_ve
        d, _ = denoise(Recorder(_gaussian_optimal(prediction)), x, sigma, cond, prediction)
        exact = MU + S * S / (S * S + sig * sig) * (x - MU)
        k = cond.known.bool().expand_as(x)
        torch.testing.assert_close(d[~k], exact[~k], rtol=1e-9, atol=1e-9)
        assert torch.equal(d[k], cond.known_values[k])


def test_v_oracle_recovers_x0_and_its_error_stays_bounded_at_high_noise():
    """A network returning the true v makes D the clean data; an error e in the network's
    output moves D by at most |e| for v-prediction, but by sigma |e| for eps-prediction
    (why the eps network's estimate left the data range at sigma = 80)."""
    g = torch.Generator().manual_seed(7)
    x0 = torch.randn(B, FR, 3, H, W, generator=g, dtype=F64)
    eps = torch.randn(B, FR, 3, H, W, generator=g, dtype=F64)
    cond = make_cond(F64)
    cond.known_values = x0
    sigma = torch.tensor([0.002, 80.0], dtype=F64)
    s = sigma.view(B, 1, 1, 1, 1)
    x_ve = x0 + s * eps
    a, b = 1 / torch.sqrt(1 + s * s), s / torch.sqrt(1 + s * s)
    v = a * eps - b * x0
    d, _ = denoise(Recorder(v), x_ve, sigma, cond, "v")
    torch.testing.assert_close(d, x0, rtol=1e-9, atol=1e-9)
    err = 0.1 * torch.ones_like(x0)
    k = cond.known.bool().expand_as(x0)
    d_v, _ = denoise(Recorder(v + err), x_ve, sigma, cond, "v")
    d_eps, _ = denoise(Recorder(eps + err), x_ve, sigma, cond, "eps")
    assert (d_v - x0)[~k].abs().max() <= 0.1 + 1e-12
    assert (d_eps - x0)[1][~k[1]].abs().min() >= 0.1 * 80 - 1e-9


def test_make_denoiser_heun_end_to_end_v():
    """Heun over the optimal v-network samples the Gaussian, known pixels untouched."""
    shape = (8, 4, 24, 24)
    cond = make_cond(seed=3, shape=shape)
    sigmas = karras_sigmas(40)
    g = torch.Generator().manual_seed(11)
    x = sigmas[0] * torch.randn(shape[0], shape[1], 3, *shape[2:], generator=g)
    out = heun_sample(make_denoiser(Recorder(_gaussian_optimal("v")), cond, "v"), x, sigmas)
    k = cond.known.bool().expand_as(out)
    torch.testing.assert_close(out[k], cond.known_values[k], rtol=0, atol=1e-5)
    assert_gaussian(out[~k])


def test_unknown_prediction_type_is_refused():
    cond = make_cond()
    with pytest.raises(ValueError, match="unknown prediction type"):
        denoise(Recorder(), torch.zeros(B, FR, 3, H, W), 1.0, cond, "x0")


# ---- training loss -----------------------------------------------------------------------
def loss_setup(seed=0):
    g = torch.Generator().manual_seed(seed)
    cond = make_cond(seed=seed)
    x0 = torch.randn(B, FR, 3, H, W, generator=g)
    noise = torch.randn(B, FR, 3, H, W, generator=g)
    t = torch.rand(B, generator=g)
    # generate frames 0, 1 (unknown pixels only); frames 2, 3 observed
    weight = torch.zeros(B, FR, 1, H, W)
    weight[:, :2] = 1.0 - cond.known[:, :2]
    return cond, x0, noise, t, weight


def call_loss(model, cond, x0, noise, t, weight, schedule="cosine"):
    return training_loss(model, x0, t, noise, cond.known, cond.frame_index, cond.frame_valid, weight, schedule)


def test_training_loss_hand_computed():
    cond, x0, noise, t, weight = loss_setup()
    out = torch.randn(B, FR, 3, H, W)
    loss = call_loss(Recorder(out), cond, x0, noise, t, weight)
    sel = weight.bool().expand_as(x0)
    expected = ((out - noise)[sel] ** 2).mean()
    torch.testing.assert_close(loss, expected)
    assert loss.ndim == 0


def test_training_loss_ignores_masked_pixels():
    cond, x0, noise, t, weight = loss_setup(1)
    out = torch.randn(B, FR, 3, H, W)
    base = call_loss(Recorder(out), cond, x0, noise, t, weight)
    off = ~weight.bool().expand_as(x0)
    for junk in (1e3, float("inf"), float("nan")):
        perturbed = out.clone()
        perturbed[off] = junk
        assert torch.equal(call_loss(Recorder(perturbed), cond, x0, noise, t, weight), base)


def test_training_loss_never_counts_known_or_padding():
    cond, x0, noise, t, _ = loss_setup(2)
    out = torch.randn(B, FR, 3, H, W)
    everywhere = call_loss(Recorder(out), cond, x0, noise, t, torch.ones(B, FR, 1, H, W))
    sel = (~cond.known.bool() & cond.frame_valid.view(B, FR, 1, 1, 1)).expand_as(x0)
    torch.testing.assert_close(everywhere, ((out - noise)[sel] ** 2).mean())
    # a per-channel weight mask works too, and an all-zero one gives 0, not nan
    w3 = torch.zeros(B, FR, 3, H, W)
    w3[:, 0, 1] = 1.0
    sel3 = w3.bool() & ~cond.known.bool().expand_as(x0)
    torch.testing.assert_close(call_loss(Recorder(out), cond, x0, noise, t, w3), ((out - noise)[sel3] ** 2).mean())
    assert call_loss(Recorder(out), cond, x0, noise, t, torch.zeros(B, FR, 1, H, W)).item() == 0.0


def test_training_loss_oracle_is_zero_and_inputs():
    cond, x0, noise, t, weight = loss_setup(3)
    model = Recorder(noise)
    assert call_loss(model, cond, x0, noise, t, weight, "sigmoid").item() == 0.0
    x_in, logsnr = model.inputs[0]
    k = cond.known.bool().expand_as(x0)
    assert torch.equal(x_in[k], x0[k])  # known pixels enter clean
    gamma = sigmoid(t.double()).float().view(B, 1, 1, 1, 1)
    torch.testing.assert_close(x_in[~k], (gamma.sqrt() * x0 + (1 - gamma).sqrt() * noise)[~k])
    torch.testing.assert_close(logsnr, gamma_to_logsnr(sigmoid(t.double())).float())


def test_training_and_sampling_share_the_network_input():
    cond, x0, noise, t, weight = loss_setup(4)
    train = Recorder(noise)
    call_loss(train, cond, x0, noise, t, weight, "linear")
    gamma = linear(t.double())
    sigma = gamma_to_sigma(gamma).float()
    x_t = gamma.sqrt().float().view(B, 1, 1, 1, 1) * x0 + (1 - gamma).sqrt().float().view(B, 1, 1, 1, 1) * noise
    sample = Recorder(noise)
    cond.known_values = x0
    denoise(sample, x_t / gamma.sqrt().float().view(B, 1, 1, 1, 1), sigma, cond)
    torch.testing.assert_close(train.inputs[0][0], sample.inputs[0][0], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(train.inputs[0][1], sample.inputs[0][1], rtol=1e-5, atol=1e-5)


def test_training_loss_t_zero_is_finite_and_gradients_stay_on_weighted_pixels():
    cond, x0, noise, _, weight = loss_setup(5)
    t = torch.tensor([0.0, 1.0])
    param = torch.zeros(B, FR, 3, H, W, requires_grad=True)
    loss = call_loss(Recorder(lambda x, logsnr: param + 0 * logsnr.view(-1, 1, 1, 1, 1)), cond, x0, noise, t, weight)
    assert torch.isfinite(loss)
    loss.backward()
    off = ~weight.bool().expand_as(x0)
    assert (param.grad[off] == 0).all() and (param.grad[~off] != 0).all()


def test_training_loss_v_target():
    """v-prediction's loss is zero for the true velocity alpha*noise - s*x0 and not for the noise."""
    cond, x0, noise, t, weight = loss_setup(6)
    logsnr = schedule_logsnr("cosine", t.double()).float().view(B, 1, 1, 1, 1)
    v = torch.sigmoid(logsnr).sqrt() * noise - torch.sigmoid(-logsnr).sqrt() * x0
    args = (cond.known, cond.frame_index, cond.frame_valid, weight, "cosine")
    assert training_loss(Recorder(v), x0, t, noise, *args, prediction="v").item() < 1e-10
    assert training_loss(Recorder(noise), x0, t, noise, *args, prediction="v").item() > 1e-3
    with pytest.raises(ValueError, match="unknown prediction type"):
        training_loss(Recorder(v), x0, t, noise, *args, prediction="x0")
