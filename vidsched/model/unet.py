"""The video U-Net: FDM's 4-D U-Net (Harvey et al. 2022) generalised to pixel masks.

One network call sees a *window* of at most K frames of one video. Per frame it gets the
RGB values (clean where the pixel is known, the noisy variance-preserving x_t where it is
not) and a mask channel (1 = known pixel), plus each frame's true index in the video, and
predicts the noise in the unknown pixels (epsilon prediction).

Layout conventions (einops names used throughout):
    b  batch (windows)         f  frames in a window (<= K)     c  channels
    h, w  spatial position     heads, d  attention heads and the channels of one head
Convolutions and group norms run per frame, on the folded layout ``(b f) c h w``, so no
frame can influence another except through temporal attention, which masks out the
padding frames. That is what makes padding safe: a frame with ``frame_valid = False``
changes no output of a real frame.

Temporal attention knows *where* frames are only through a bias computed from the
differences of their frame indices (relative position encoding, as FDM's RPENet: a small
MLP on log-scaled signed distances, conditioned on the noise level). Hence shifting all
indices of a window changes nothing, and permuting the frames of a window (with their
indices) permutes the output.

The forward pass does no host syncs and no Python control flow on tensor values (only on
shapes), so it can be captured in a CUDA graph or compiled.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from einops import rearrange, repeat
from torch import Tensor, nn

# --------------------------------------------------------------------------------------
# Configuration


@dataclass(frozen=True)
class VideoUNetConfig:
    """Hyperparameters of :class:`VideoUNet`. The defaults are the CPU preset (``tiny``)."""

    image_size: int = 64  # frames are image_size x image_size pixels (square)
    max_frames: int = 8  # K: the most frames one network call may see (the paper: 16)
    in_channels: int = 3  # RGB; the mask channel is added on top (the input conv sees 4)
    channels: int = 32  # base width of the U-Net (channels at full resolution)
    channel_mult: tuple[int, ...] = (1, 1, 2, 3)  # width multiplier per level; each
    # level after the first halves the resolution: 64, 32, 16, 8 pixels here. On CPU the
    # cost is the two full-resolution levels, so they stay at the base width.
    num_res_blocks: int = 1  # residual blocks per level on the way down (+1 on the way up)
    attention_resolutions: tuple[int, ...] = (16, 8)  # resolutions (pixels) with spatial
    # + temporal attention; the middle of the U-Net always has both
    num_heads: int = 4  # attention heads (FDM uses 4 at every resolution)
    rel_pos_channels: int = 32  # hidden width of the MLP that turns frame-index
    # differences (and the noise level) into a per-head temporal attention bias
    dropout: float = 0.0  # dropout inside residual blocks (improved-diffusion default)
    norm_groups: int = 8  # GroupNorm groups (reduced to gcd(groups, channels) per layer)

    def __post_init__(self) -> None:
        # Tuples, even when built from JSON lists (keeps the config hashable/frozen).
        object.__setattr__(self, "channel_mult", tuple(int(m) for m in self.channel_mult))
        object.__setattr__(self, "attention_resolutions", tuple(int(r) for r in self.attention_resolutions))
        problems = []
        for name in ("image_size", "max_frames", "in_channels", "channels", "num_res_blocks", "num_heads",
                     "rel_pos_channels", "norm_groups"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                problems.append(f"{name} must be a positive integer, got {value!r}")
        if not self.channel_mult or any(m < 1 for m in self.channel_mult):
            problems.append(f"channel_mult must be a non-empty list of positive integers, got {list(self.channel_mult)}")
        if not 0.0 <= float(self.dropout) < 1.0:
            problems.append(f"dropout must be in [0, 1), got {self.dropout!r}")
        if not problems:
            factor = 2 ** (len(self.channel_mult) - 1)
            if self.image_size % factor:
                problems.append(
                    f"image_size {self.image_size} is not divisible by {factor} "
                    f"(the U-Net halves the resolution {len(self.channel_mult) - 1} times)"
                )
            levels = self.resolutions
            bad = [r for r in self.attention_resolutions if r not in levels]
            if bad:
                problems.append(
                    f"attention resolution(s) {', '.join(map(str, bad))} are not resolutions of this "
                    f"U-Net ({', '.join(map(str, levels))})"
                )
            for r in (*self.attention_resolutions, levels[-1]):
                if r in levels:
                    width = self.channels * self.channel_mult[levels.index(r)]
                    if width % self.num_heads:
                        problems.append(f"{width} channels at resolution {r} do not split into {self.num_heads} heads")
        if problems:
            raise ValueError("invalid VideoUNetConfig: " + "; ".join(problems))

    @property
    def resolutions(self) -> tuple[int, ...]:
        """The spatial size at each level, e.g. (64, 32, 16, 8)."""
        return tuple(self.image_size // 2**i for i in range(len(self.channel_mult)))

    @classmethod
    def tiny(cls) -> "VideoUNetConfig":
        """CPU preset: 64 px, K = 8, 2.3 M parameters (a training step at batch 2 takes
        about 0.7 s on 2 CPU cores)."""
        return cls()

    @classmethod
    def paper(cls) -> "VideoUNetConfig":
        """GPU preset after the paper (appendix E) and FDM's defaults: K = 16, 128 base
        channels, 2 residual blocks per level, 4 heads, temporal attention at 32, 16, 8.

        At 128 px the U-Net needs five levels to reach 8x8, so the multipliers are
        improved-diffusion's 128-px ones, (1, 1, 2, 3, 4) -- FDM's 64-px (1, 2, 3, 4) with a
        full-resolution level in front.
        """
        return cls(
            image_size=128,
            max_frames=16,
            channels=128,
            channel_mult=(1, 1, 2, 3, 4),
            num_res_blocks=2,
            attention_resolutions=(32, 16, 8),
            num_heads=4,
            rel_pos_channels=128,
            dropout=0.0,
            norm_groups=32,
        )

    def to_dict(self) -> dict:
        """JSON-safe dict (tuples become lists)."""
        d = asdict(self)
        d["channel_mult"] = list(self.channel_mult)
        d["attention_resolutions"] = list(self.attention_resolutions)
        return d

    @classmethod
    def from_dict(cls, data: dict) -> "VideoUNetConfig":
        """Inverse of :meth:`to_dict`. Missing keys take their defaults; unknown keys are
        an error (a config from another version or another model)."""
        if not isinstance(data, dict):
            raise ValueError(f"a model config must be a JSON object, got {type(data).__name__}")
        known = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(known))
        if unknown:
            raise ValueError(
                f"unknown model config key(s): {', '.join(map(repr, unknown))} "
                f"(known keys: {', '.join(known)})"
            )
        try:
            return cls(**data)
        except TypeError as e:  # e.g. a string where a list belongs
            raise ValueError(f"invalid VideoUNetConfig: {e}") from None


# --------------------------------------------------------------------------------------
# Building blocks. Every block takes (h, ctx): h is a feature map ``(b f) c h w`` and ctx
# carries what the blocks need to know about the window (see VideoUNet.forward).


@dataclass
class WindowContext:
    num_frames: int  # f, to unfold (b f)
    emb: Tensor  # (b, E) noise-level embedding
    frame_emb: Tensor  # ((b f), E) the same, repeated per frame, for the residual blocks
    rel_features: Tensor  # (b, f, f, 3) features of frame_index[key] - frame_index[query]
    can_attend: Tensor  # (b, f, f) bool: may query frame i attend to key frame j


def group_norm(channels: int, groups: int) -> nn.GroupNorm:
    return nn.GroupNorm(math.gcd(groups, channels), channels)


def zero_init(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


class ResBlock(nn.Module):
    """GroupNorm, SiLU, conv 3x3; the noise embedding as scale/shift; dropout; conv 3x3."""

    def __init__(self, in_ch: int, out_ch: int, emb_dim: int, dropout: float, groups: int):
        super().__init__()
        self.norm1 = group_norm(in_ch, groups)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.emb_proj = nn.Linear(emb_dim, 2 * out_ch)
        self.norm2 = group_norm(out_ch, groups)
        self.dropout = nn.Dropout(dropout)
        self.conv2 = zero_init(nn.Conv2d(out_ch, out_ch, 3, padding=1))  # block starts as identity
        self.skip = nn.Conv2d(in_ch, out_ch, 1) if in_ch != out_ch else nn.Identity()

    def forward(self, x: Tensor, ctx: WindowContext) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        scale, shift = rearrange(self.emb_proj(F.silu(ctx.frame_emb)), "n (two c) -> two n c 1 1", two=2)
        h = self.norm2(h) * (1 + scale) + shift
        h = self.conv2(self.dropout(F.silu(h)))
        return self.skip(x) + h


class Downsample(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x: Tensor, ctx: WindowContext) -> Tensor:
        return self.conv(x)


class Upsample(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: Tensor, ctx: WindowContext) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class SpatialAttention(nn.Module):
    """Self-attention among the pixels of each frame."""

    def __init__(self, ch: int, heads: int, groups: int):
        super().__init__()
        self.heads = heads
        self.norm = group_norm(ch, groups)
        self.qkv = nn.Linear(ch, 3 * ch)
        self.proj = zero_init(nn.Linear(ch, ch))

    def forward(self, x: Tensor, ctx: WindowContext) -> Tensor:
        _, _, H, W = x.shape
        t = rearrange(self.norm(x), "n c h w -> n (h w) c")  # n = (b f)
        q, k, v = rearrange(self.qkv(t), "n l (three heads d) -> three n heads l d", three=3, heads=self.heads)
        out = F.scaled_dot_product_attention(q, k, v)
        out = self.proj(rearrange(out, "n heads l d -> n l (heads d)"))
        return x + rearrange(out, "n (h w) c -> n c h w", h=H, w=W)


class RelativePositionBias(nn.Module):
    """Per-head attention bias from frame-index differences and the noise level (FDM's
    RPENet, used as an additive bias so that fused attention kernels apply)."""

    def __init__(self, heads: int, hidden: int, emb_dim: int):
        super().__init__()
        self.distance = nn.Linear(3, hidden)
        self.noise = nn.Linear(emb_dim, hidden)
        self.out = nn.Linear(hidden, heads)

    def forward(self, ctx: WindowContext) -> Tensor:
        h = self.distance(ctx.rel_features) + rearrange(self.noise(ctx.emb), "b k -> b 1 1 k")
        bias = rearrange(self.out(F.silu(h)), "b fq fk heads -> b heads fq fk")
        return bias.masked_fill(~rearrange(ctx.can_attend, "b fq fk -> b 1 fq fk"), float("-inf"))


class TemporalAttention(nn.Module):
    """Self-attention among the frames of the window, separately at each pixel."""

    def __init__(self, ch: int, heads: int, groups: int, rel_pos_channels: int, emb_dim: int):
        super().__init__()
        self.heads = heads
        self.norm = group_norm(ch, groups)  # per frame, so padding frames stay isolated
        self.qkv = nn.Linear(ch, 3 * ch)
        self.proj = zero_init(nn.Linear(ch, ch))
        self.rel_bias = RelativePositionBias(heads, rel_pos_channels, emb_dim)

    def forward(self, x: Tensor, ctx: WindowContext) -> Tensor:
        _, _, H, W = x.shape
        t = rearrange(self.norm(x), "(b f) c h w -> (b h w) f c", f=ctx.num_frames)
        q, k, v = rearrange(self.qkv(t), "n f (three heads d) -> three n heads f d", three=3, heads=self.heads)
        bias = repeat(self.rel_bias(ctx), "b heads fq fk -> (b hw) heads fq fk", hw=H * W)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype))
        out = self.proj(rearrange(out, "n heads f d -> n f (heads d)"))
        return x + rearrange(out, "(b h w) f c -> (b f) c h w", h=H, w=W)


class Level(nn.ModuleList):
    """A sequence of blocks applied in order (a res block, maybe attention, maybe a resampler)."""

    def forward(self, x: Tensor, ctx: WindowContext) -> Tensor:
        for block in self:
            x = block(x, ctx)
        return x


def logsnr_embedding(logsnr: Tensor, dim: int) -> Tensor:
    """Sinusoidal (Fourier) features of the log-SNR: (b,) -> (b, dim).

    Periods are spaced geometrically from 0.25 to 200 log-SNR units, so both the fine
    structure and the whole useful range (about -20..20) are resolved.
    """
    half = dim // 2
    periods = torch.logspace(math.log10(200.0), math.log10(0.25), half, device=logsnr.device)
    angles = logsnr.float()[:, None] * (2 * math.pi / periods)[None, :]
    emb = torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1)
    return F.pad(emb, (0, dim - 2 * half))


# --------------------------------------------------------------------------------------
# The network


class VideoUNet(nn.Module):
    def __init__(self, config: VideoUNetConfig):
        super().__init__()
        self.config = c = config
        ch = c.channels
        emb_dim = 4 * ch
        self.emb_mlp = nn.Sequential(nn.Linear(ch, emb_dim), nn.SiLU(), nn.Linear(emb_dim, emb_dim))

        def attention(width: int) -> list[nn.Module]:
            return [
                SpatialAttention(width, c.num_heads, c.norm_groups),
                TemporalAttention(width, c.num_heads, c.norm_groups, c.rel_pos_channels, emb_dim),
            ]

        def res(in_ch: int, out_ch: int) -> ResBlock:
            return ResBlock(in_ch, out_ch, emb_dim, c.dropout, c.norm_groups)

        self.conv_in = nn.Conv2d(c.in_channels + 1, ch, 3, padding=1)  # RGB + mask channel

        # Down: each entry of self.down produces one skip connection.
        self.down = nn.ModuleList()
        skip_widths = [ch]
        width = ch
        for level, mult in enumerate(c.channel_mult):
            resolution = c.resolutions[level]
            for _ in range(c.num_res_blocks):
                blocks = [res(width, ch * mult)]
                width = ch * mult
                if resolution in c.attention_resolutions:
                    blocks += attention(width)
                self.down.append(Level(blocks))
                skip_widths.append(width)
            if level < len(c.channel_mult) - 1:
                self.down.append(Level([Downsample(width)]))
                skip_widths.append(width)

        self.middle = Level([res(width, width), *attention(width), res(width, width)])

        # Up: num_res_blocks + 1 blocks per level, each eating one skip connection.
        self.up = nn.ModuleList()
        for level, mult in reversed(list(enumerate(c.channel_mult))):
            resolution = c.resolutions[level]
            for i in range(c.num_res_blocks + 1):
                blocks = [res(width + skip_widths.pop(), ch * mult)]
                width = ch * mult
                if resolution in c.attention_resolutions:
                    blocks += attention(width)
                if level > 0 and i == c.num_res_blocks:
                    blocks.append(Upsample(width))
                self.up.append(Level(blocks))

        self.norm_out = group_norm(width, c.norm_groups)
        self.conv_out = zero_init(nn.Conv2d(width, c.in_channels, 3, padding=1))  # predicts 0 at init

    def forward(self, x: Tensor, known: Tensor, frame_index: Tensor, frame_valid: Tensor, logsnr: Tensor) -> Tensor:
        """Predict the noise.

        x:           (b, f, 3, H, W) float -- clean at known pixels, noisy x_t elsewhere
        known:       (b, f, 1, H, W) float in {0, 1} (or bool) -- 1 = known pixel
        frame_index: (b, f) long -- each frame's index in the video
        frame_valid: (b, f) bool -- False for padding frames (their outputs are garbage)
        logsnr:      (b,) float -- log signal-to-noise ratio of the unknown pixels
        returns eps: (b, f, 3, H, W)
        """
        self._check_shapes(x, known, frame_index, frame_valid, logsnr)
        B, Fr = frame_index.shape

        # Temporal context: features of index differences, and who may attend to whom.
        # A padding frame is invisible to every other frame (it only sees itself, and the
        # real frames, so that no softmax row is empty).
        diff = (frame_index[:, None, :] - frame_index[:, :, None]).float()  # (b, query, key)
        rel_features = torch.stack([torch.log1p(diff.clamp(min=0)), torch.log1p((-diff).clamp(min=0)),
                                    (diff == 0).float()], dim=-1).to(x.dtype)
        itself = torch.eye(Fr, dtype=torch.bool, device=frame_valid.device)
        can_attend = frame_valid[:, None, :] | itself[None]

        emb = self.emb_mlp(logsnr_embedding(logsnr, self.config.channels).to(x.dtype))
        ctx = WindowContext(
            num_frames=Fr,
            emb=emb,
            frame_emb=repeat(emb, "b e -> (b f) e", f=Fr),
            rel_features=rel_features,
            can_attend=can_attend,
        )

        h = rearrange(torch.cat([x, known.to(x.dtype)], dim=2), "b f c h w -> (b f) c h w")
        h = self.conv_in(h)
        skips = [h]
        for level in self.down:
            h = level(h, ctx)
            skips.append(h)
        h = self.middle(h, ctx)
        for level in self.up:
            h = level(torch.cat([h, skips.pop()], dim=1), ctx)
        eps = self.conv_out(F.silu(self.norm_out(h)))
        return rearrange(eps, "(b f) c h w -> b f c h w", f=Fr)

    def _check_shapes(self, x, known, frame_index, frame_valid, logsnr) -> None:
        c = self.config
        if x.dim() != 5 or x.shape[2] != c.in_channels:
            raise ValueError(f"x must be (batch, frames, {c.in_channels}, H, W), got {tuple(x.shape)}")
        B, Fr, _, H, W = x.shape
        factor = 2 ** (len(c.channel_mult) - 1)
        if H % factor or W % factor:
            raise ValueError(f"frame size {H}x{W} is not divisible by {factor}")
        if Fr > c.max_frames:
            raise ValueError(f"{Fr} frames in a window, but this model sees at most K = {c.max_frames}")
        if tuple(known.shape) != (B, Fr, 1, H, W):
            raise ValueError(f"known must be {(B, Fr, 1, H, W)}, got {tuple(known.shape)}")
        if tuple(frame_index.shape) != (B, Fr) or tuple(frame_valid.shape) != (B, Fr):
            raise ValueError(
                f"frame_index and frame_valid must be {(B, Fr)}, got {tuple(frame_index.shape)} "
                f"and {tuple(frame_valid.shape)}"
            )
        if frame_valid.dtype != torch.bool:
            raise ValueError(f"frame_valid must be a bool tensor, got {frame_valid.dtype}")
        if tuple(logsnr.shape) != (B,):
            raise ValueError(f"logsnr must be ({B},), got {tuple(logsnr.shape)}")


# --------------------------------------------------------------------------------------
# Summaries


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def describe(config: VideoUNetConfig) -> str:
    """A multi-line summary of a configuration (for ``vidsched model-info``)."""
    with torch.device("meta"):  # count without allocating memory
        n = count_parameters(VideoUNet(config))
    widths = [config.channels * m for m in config.channel_mult]
    levels = ", ".join(f"{r}px x {w}" for r, w in zip(config.resolutions, widths))
    attn = ", ".join(str(r) for r in config.attention_resolutions) or "none"
    return "\n".join([
        "VideoUNet (FDM 4-D U-Net with a pixel-mask channel, epsilon prediction)",
        f"  resolution:            {config.image_size}x{config.image_size}",
        f"  frames per call (K):   {config.max_frames}",
        f"  channels:              {config.channels} base, multipliers {list(config.channel_mult)}",
        f"  levels:                {levels}",
        f"  residual blocks:       {config.num_res_blocks} per level (down), {config.num_res_blocks + 1} (up)",
        f"  attention resolutions: {attn} (spatial + temporal; also the {config.resolutions[-1]}px middle)",
        f"  attention heads:       {config.num_heads}",
        f"  dropout:               {config.dropout}",
        f"  parameters:            {n:,} ({n / 1e6:.2f} M)",
    ])
