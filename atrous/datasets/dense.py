"""Dense 2-d tasks for gridding and upsampling: sparse dots to a density map, smooth random fields.

``sparse_dots`` is a dense-prediction task in which every input pixel matters: the input is a
binary image of isolated dots, the target the sum of one Gaussian bump per dot (the density maps
of crowd counting, where dilated back-ends with one repeated rate are common). An output pixel
must see every dot within about three ``sigma``; a network whose receptive field has holes
(dilation rates 2, 2, 2) cannot see a dot that falls into a hole, whatever its weights.

``smooth_fields`` is a smooth target for decoders: Gaussian random fields whose spectrum falls
off like a Gaussian, so an upsampling layer that adds power at its own period (the checkerboard
of a transposed convolution) is easy to measure against the target's own, tiny, power there
(:func:`atrous.analysis.spectra.periodic_power`).

Both generators take an explicit seed (a ``torch.Generator``) and compute in float64 before
returning float32, so the same arguments always give the same tensors.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from atrous.errors import SpecError
from atrous.geometry.spec import check_int

__all__ = ["gaussian_matrix", "smooth_fields", "sparse_dots"]


def _check_float(name: str, value: object, low: float, high: float, *, low_open: bool, high_open: bool) -> float:
    lo = "(" if low_open else "["
    hi = ")" if high_open else "]"
    rng = f"in {lo}{low:g}, {high:g}{hi}"
    if isinstance(value, bool):
        raise SpecError(f"{name} must be a number {rng}, got {value!r}")
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SpecError(f"{name} must be a number {rng}, got {value!r}") from None
    if not math.isfinite(v):
        raise SpecError(f"{name} must be a finite number {rng}, got {value!r}")
    below = v <= low if low_open else v < low
    above = v >= high if high_open else v > high
    if below or above:
        raise SpecError(f"{name} must be a number {rng}, got {value!r}")
    return v


def gaussian_matrix(size: int, sigma: float) -> Tensor:
    """The ``size x size`` matrix ``G[i, k] = exp(-(i - k)^2 / (2 sigma^2))`` (float64).

    ``G @ X @ G.T`` places an unnormalised Gaussian bump (peak 1, standard deviation ``sigma``
    pixels) on every pixel of ``X``, cut off by the image's borders and nothing else (no
    truncation of the tails, no wrap-around).

    Args:
        size: the number of pixels along the axis (>= 1).
        sigma: the bump's standard deviation in pixels (> 0).

    Returns:
        A float64 tensor ``(size, size)``, symmetric, ones on the diagonal.

    Raises:
        SpecError: a bad ``size`` or ``sigma``.

    Examples:
        >>> G = gaussian_matrix(5, 1.0)
        >>> G[2].tolist() == [math.exp(-2.0), math.exp(-0.5), 1.0, math.exp(-0.5), math.exp(-2.0)]
        True
    """
    n = check_int("size", size, 1)
    s = _check_float("sigma", sigma, 0.0, math.inf, low_open=True, high_open=True)
    i = torch.arange(n, dtype=torch.float64)
    return torch.exp(-((i[:, None] - i[None, :]) ** 2) / (2.0 * s * s))


def sparse_dots(n: int, size: int, density: float, sigma: float, seed: int) -> tuple[Tensor, Tensor]:
    """Dense prediction from sparse dots: binary dot images and their Gaussian density maps.

    Every pixel of every image is a dot independently with probability ``density`` (one
    ``torch.rand`` draw per pixel, dot where the draw is below ``density``). The target is

    ``target[i, j] = sum over dots (y, x) of exp(-((i - y)^2 + (j - x)^2) / (2 sigma^2))``,

    computed exactly as ``G @ dots @ G.T`` with :func:`gaussian_matrix` (bumps of peak 1,
    untruncated, cut only by the image borders).

    Args:
        n: number of images (>= 1).
        size: height and width in pixels (>= 1).
        density: probability that a pixel is a dot, in ``(0, 1]``.
        sigma: standard deviation of each bump in pixels (> 0).
        seed: seed of the ``torch.Generator`` (>= 0).

    Returns:
        ``(dots, target)``: float32 tensors ``(n, 1, size, size)``; ``dots`` holds 0 and 1.

    Raises:
        SpecError: a bad ``n``, ``size``, ``density``, ``sigma`` or ``seed`` (the message names it).

    Examples:
        >>> dots, target = sparse_dots(2, 16, 0.02, 1.5, seed=0)
        >>> dots.shape, target.shape
        (torch.Size([2, 1, 16, 16]), torch.Size([2, 1, 16, 16]))
        >>> sorted(set(dots.unique().tolist())) == [0.0, 1.0]
        True
        >>> bool(torch.equal(target, sparse_dots(2, 16, 0.02, 1.5, seed=0)[1]))
        True
    """
    n = check_int("n", n, 1)
    size = check_int("size", size, 1)
    p = _check_float("density", density, 0.0, 1.0, low_open=True, high_open=False)
    s = _check_float("sigma", sigma, 0.0, math.inf, low_open=True, high_open=True)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    dots = (torch.rand((n, 1, size, size), generator=g, dtype=torch.float64) < p).to(torch.float64)
    G = gaussian_matrix(size, s)
    target = G @ dots @ G.T
    return dots.float(), target.float()


def smooth_fields(n: int, size: int, length_scale: float, seed: int) -> Tensor:
    """Smooth Gaussian random fields: white noise blurred by a Gaussian, one per image.

    White noise ``w`` (``torch.randn``, float64) is convolved *circularly* with a Gaussian of
    standard deviation ``length_scale`` pixels, by multiplying its 2-d FFT with
    ``exp(-2 pi^2 length_scale^2 (f_y^2 + f_x^2))`` (``f`` in cycles per pixel, from
    :func:`torch.fft.fftfreq`); each image is then shifted and scaled to mean 0 and standard
    deviation 1. The fields are periodic with period ``size`` and their power at frequency
    ``f`` falls like ``exp(-4 pi^2 length_scale^2 |f|^2)``: at the Nyquist frequency
    (``|f| = 1/2``) and ``length_scale = 3`` by a factor of about ``e^-89``.

    Args:
        n: number of images (>= 1).
        size: height and width in pixels (>= 2).
        length_scale: the blur's standard deviation in pixels (> 0).
        seed: seed of the ``torch.Generator`` (>= 0).

    Returns:
        Float32 ``(n, 1, size, size)``, every image with mean 0 and standard deviation 1.

    Raises:
        SpecError: a bad ``n``, ``size``, ``length_scale`` or ``seed`` (the message names it).

    Examples:
        >>> f = smooth_fields(3, 32, 3.0, seed=1)
        >>> f.shape
        torch.Size([3, 1, 32, 32])
        >>> [round(v, 4) + 0.0 for v in f.double().mean(dim=(1, 2, 3)).tolist()]
        [0.0, 0.0, 0.0]
        >>> bool(torch.equal(f, smooth_fields(3, 32, 3.0, seed=1)))
        True
    """
    n = check_int("n", n, 1)
    size = check_int("size", size, 2)
    s = _check_float("length_scale", length_scale, 0.0, math.inf, low_open=True, high_open=True)
    g = torch.Generator().manual_seed(check_int("seed", seed, 0))
    noise = torch.randn((n, 1, size, size), generator=g, dtype=torch.float64)
    f = torch.fft.fftfreq(size, dtype=torch.float64)
    gain = torch.exp(-2.0 * math.pi**2 * s * s * (f[:, None] ** 2 + f[None, :] ** 2))
    field = torch.fft.ifft2(torch.fft.fft2(noise) * gain).real
    field = field - field.mean(dim=(-2, -1), keepdim=True)
    std = field.std(dim=(-2, -1), keepdim=True, unbiased=False)
    out: Tensor = (field / std).float()
    return out
