"""The diffusion runtime: executes compiled plans on a video with a trained network."""
