"""Video-inpainting metrics: the DEVIL suite (Szeto & Corso 2021), scored on the composite.

Offline (no network weights):

* :mod:`vidsched.metrics.pixel` -- PSNR, SSIM (DEVIL-parity and standard data range), the composite.
* :mod:`vidsched.metrics.warp` -- flow warping error E_warp (Lai et al. 2018), pluggable optical flow.
* :mod:`vidsched.metrics.frechet` -- the Frechet distance behind FID and VFID.

Weight-backed (the weights are looked for, never downloaded unasked):

* :mod:`vidsched.metrics.weights` -- finding and checking the weight files.
* :mod:`vidsched.metrics.lpips` -- LPIPS.
* :mod:`vidsched.metrics.inception` -- FID's Inception features.
* :mod:`vidsched.metrics.i3d` -- I3D features for VFID and PVCS.

:mod:`vidsched.metrics.suite` runs them over one video or a dataset. Importing this package
imports none of them (torch and scipy load only with the modules that need them).
"""
