"""The network: a video U-Net (FDM's 4-D U-Net with a pixel-mask channel) and its
checkpoints. Importing this package imports torch; the rest of vidsched does not need it."""

from vidsched.model.checkpoint import (
    CheckpointError,
    load_checkpoint,
    read_checkpoint,
    read_checkpoint_info,
    save_checkpoint,
)
from vidsched.model.unet import VideoUNet, VideoUNetConfig, count_parameters, describe

__all__ = [
    "CheckpointError",
    "VideoUNet",
    "VideoUNetConfig",
    "count_parameters",
    "describe",
    "load_checkpoint",
    "read_checkpoint",
    "read_checkpoint_info",
    "save_checkpoint",
]
