"""What a training run shows a person: a loss curve and sample inpaintings.

Both are written into the run folder at every save, so a run can be judged by looking at
``loss.png`` and ``samples/step_NNNNNN.png`` while it trains -- a falling loss alone says
little about whether the holes are filled plausibly.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import torch

from vidsched.atomic import atomic_write
from vidsched.training.masks import generate_mask


def preview_clip(held_out: np.ndarray, K: int, kind: str = "blob", seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """K held-out frames (spaced 2 apart where the split allows) and a moving hole for them."""
    stride = 2 if len(held_out) >= 2 * K else 1
    frames = held_out[: stride * K : stride][:K]
    hole = generate_mask(kind, len(frames), frames.shape[1], moving=True, seed=seed)
    return frames, hole


@torch.no_grad()
def inpaint_window(model: torch.nn.Module, frames: np.ndarray, hole: np.ndarray, steps: int,
                   seed: int = 0, prediction: str = "eps", schedule: str = "cosine") -> np.ndarray:
    """Fill the hole of one window (F <= K frames) with the runtime's default sampler
    (``RUN_SAMPLER``: the previews show the fills users get), through the one inference
    path (:class:`~vidsched.runtime.inference.Inpainter`, whole frame).

    frames: (F, S, S, 3) uint8; hole: (F, S, S) bool. Returns the composite (known pixels
    from ``frames``) as uint8. Sampling draws from its own per-stage generators, so it never
    touches the training run's random streams.
    """
    from vidsched.runtime.executor import SamplerSettings
    from vidsched.runtime.inference import InferenceSettings, Inpainter

    settings = InferenceSettings(sampler=SamplerSettings(steps=steps), seed=seed, region="full")
    device = next(model.parameters()).device
    inpainter = Inpainter(model, model.config, {"prediction": prediction, "schedule": schedule}, settings,
                          device=device, cuda_graphs=False)
    return inpainter(frames, hole).frames


def preview_image(frames: np.ndarray, hole: np.ndarray, result: np.ndarray, zoom: int = 2) -> np.ndarray:
    """One picture: a row per frame, the input with its hole tinted | the inpainting."""
    from vidsched.compositing import side_by_side

    video = side_by_side(frames, hole, result, labels=("held-out input", "EMA model"), zoom=zoom)
    band = video.shape[1] - zoom * frames.shape[1]
    rows = [video[0, :band]] + [v[band:] for v in video]
    return np.concatenate(rows, axis=0)


def write_preview(model: torch.nn.Module, held_out: np.ndarray, path: Path, steps: int,
                  prediction: str = "eps") -> Path:
    from PIL import Image

    K = model.config.max_frames
    frames, hole = preview_clip(held_out, K)
    was_training = model.training
    model.eval()
    try:
        result = inpaint_window(model, frames, hole, steps, prediction=prediction)
    finally:
        model.train(was_training)
    image = preview_image(frames, hole, result)
    atomic_write(path, lambda tmp: Image.fromarray(image).save(tmp, format="PNG"))
    return path


def read_log(path: Path) -> dict[str, np.ndarray]:
    """The trainer's CSV log as columns of floats."""
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        return {}
    return {k: np.array([float(r[k]) for r in rows]) for k in rows[0]}


def plot_loss(log_path: Path, out: Path) -> Path | None:
    """loss.png: the logged loss (faint) and its running mean, with the lr on a second axis.

    Returns None when matplotlib is not installed (``pip install vidsched[train]``).
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    log = read_log(log_path)
    if not log or len(log["step"]) < 2:
        return None
    step, loss = log["step"], log["loss"]
    window = max(1, len(loss) // 20)
    smooth = np.convolve(loss, np.ones(window) / window, mode="valid")
    fig, ax = plt.subplots(figsize=(7, 3.6), dpi=110)
    ax.plot(step, loss, color="tab:blue", alpha=0.3, lw=0.8, label="loss (eq. 3, per log interval)")
    ax.plot(step[window - 1 :], smooth, color="tab:blue", lw=1.8, label=f"running mean of {window}")
    ax.set_xlabel("step")
    ax.set_ylabel("masked noise-prediction MSE")
    ax.set_yscale("log")
    ax.grid(alpha=0.3)
    lr_ax = ax.twinx()
    lr_ax.plot(step, log["lr"], color="tab:orange", lw=1.0, label="learning rate")
    lr_ax.set_ylabel("learning rate", color="tab:orange")
    handles = ax.get_legend_handles_labels()[0] + lr_ax.get_legend_handles_labels()[0]
    ax.legend(handles=handles, loc="upper right", fontsize=8)
    ax.set_title(f"training loss, steps {int(step[0])}-{int(step[-1])}")
    fig.tight_layout()
    atomic_write(out, lambda tmp: fig.savefig(tmp, format="png"))
    plt.close(fig)
    return out


def examples_image(batch, zoom: int = 2, gap: int = 2) -> np.ndarray:
    """A picture of training examples: one row per example, its K frames left to right,
    the pixels the network must fill tinted red, observed frames framed in grey and
    padding frames left dark -- to check by eye what the data pipeline feeds the network.
    ``batch`` is a :class:`~vidsched.training.data.Batch`."""
    B, K, _, S, _ = batch.x0.shape
    cell = S * zoom
    out = np.full((B * (cell + gap) + gap, K * (cell + gap) + gap, 3), 24, np.uint8)
    for b in range(B):
        for k in range(K):
            if not batch.valid[b, k]:
                continue
            rgb = ((batch.x0[b, k].transpose(1, 2, 0) + 1) * 127.5).round().clip(0, 255).astype(np.uint8)
            hole = batch.loss_mask[b, k, 0] > 0
            rgb[hole] = (rgb[hole].astype(np.uint16) + np.array([255, 0, 0], np.uint16) + 1) // 2
            if not hole.any() and batch.known[b, k].all():  # an observed (complete) frame
                rgb[[0, -1]] = rgb[:, [0, -1]] = 160
            y, x = gap + b * (cell + gap), gap + k * (cell + gap)
            out[y:y + cell, x:x + cell] = rgb.repeat(zoom, 0).repeat(zoom, 1)
    return out
