"""vidsched: video inpainting with conditional video diffusion models, where the order in
which frames are generated is a small declarative program (a sampling scheme) that a
compiler checks and lowers to an execution plan."""

__version__ = "0.1.0"
