"""Training: masks, frame-index distribution, data, trainer (paper sec. 4.3, app. D-E)."""
