"""Frequency responses of dilated kernels, and alias-free strides from a whole path (NumPy only).

DESIGN section 4: *the dilated filter's response is* ``H(d*w)``: the undilated response
compressed by ``d`` and repeated ``d`` times over ``[0, 2 pi)``, so it passes again near
``2 pi k / d``. A half-power cut-off ``w_c`` becomes ``w_c/d`` on the first lobe only.

A 1-d kernel ``k`` with taps at positions ``t*d`` (``t = 0..K-1``) has the response
``H_d(w) = sum_t k[t] exp(-i w t d) = H(d w)``. This is the DTFT of the kernel as an impulse
response, the convention of :func:`numpy.fft.fft` applied to the zero-inserted kernel
(:func:`atrous.reference.dilate_kernel`); PyTorch's layers cross-correlate, whose response is
the complex conjugate: the magnitudes, cut-offs and strides here are the same for both.

Alias-free strides. A popular explanation of dilation says that a branch with rate ``r`` (cut-off
``w_c/r``) may be strided by ``M`` with ``w_c/r <= pi/M``. That holds only when the branch's input
is already band-limited below ``2 pi/r - w_c/r`` (:func:`band_limit`): otherwise the repeated
passbands near ``2 pi k/r`` fold onto the output. A 3-tap box dilated by 6 is back at full gain at
``pi/3``, so any stride above 1 after it aliases, while the rule promises 19. The alias-free stride
is therefore computed from the response of the *whole path* from the input (the product of the
chain's responses, e.g. a backbone's low-pass then the dilated branch): the largest ``M`` whose
band ``[pi/M, pi]`` the path passes at no more than ``level * |H(0)|`` (:func:`alias_free_stride`).

Examples:
    >>> import numpy as np
    >>> box = [1.0, 1.0, 1.0]
    >>> w, H = frequency_response(box, dilation=2, n=5)      # w = 0, pi/4, pi/2, 3pi/4, pi
    >>> np.round(np.abs(H), 6).tolist()                        # |1 + 2 cos 2w|: zero at pi/3
    [3.0, 1.0, 1.0, 1.0, 3.0]
    >>> round(cutoff(box), 6), round(cutoff(box, dilation=6), 6)  # arccos((3/sqrt(2) - 1)/2), /6
    (0.975613, 0.162602)
    >>> rule_of_thumb_stride(6, cutoff(box))   # what "w_c/r <= pi/M" promises
    19
    >>> alias_free_stride(box, 6)              # the truth: H(6w) has full gain again at pi/3
    1
    >>> round(float(abs(dtft(box, np.pi / 3, dilation=6))), 6)
    3.0
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from atrous.errors import SpecError
from atrous.geometry import ConvSpec
from atrous.geometry.spec import check_int

__all__ = [
    "HALF_POWER",
    "alias_free_stride",
    "aspp_alias_free_strides",
    "band_limit",
    "cutoff",
    "dtft",
    "frequency_response",
    "magnitude_response",
    "path_response",
    "periodic_power",
    "response_2d",
    "rule_of_thumb_stride",
]

Array = np.ndarray[Any, Any]

#: The half-power level: ``cutoff`` finds the -3 dB frequency by default.
HALF_POWER = 1.0 / math.sqrt(2.0)


def _as_kernel(kernel: object, ndim: int) -> Array:
    """``kernel`` as a finite float64 (or complex128) array of ``ndim`` axes, else SpecError."""
    detach = getattr(kernel, "detach", None)
    if callable(detach):  # a torch tensor: no torch import needed
        kernel = detach().cpu().numpy()
    try:
        k = np.asarray(kernel)
        if not np.iscomplexobj(k):
            k = k.astype(np.float64)
    except (TypeError, ValueError):
        raise SpecError(f"kernel must be a {ndim}-d array of numbers, got {kernel!r}") from None
    if k.ndim != ndim:
        raise SpecError(f"kernel must be a {ndim}-d array, got shape {k.shape}")
    if k.size == 0:
        raise SpecError(f"kernel must have at least one tap, got shape {k.shape}")
    if not np.all(np.isfinite(k)):
        raise SpecError(f"kernel must be finite, got {k.tolist()}")
    return k


def _dtft(k: Array, w: Array) -> Array:
    """``sum_t k[t] exp(-i w t)`` for every ``w`` (the undilated response)."""
    t = np.arange(k.shape[0], dtype=np.float64)
    return np.exp(-1j * np.multiply.outer(w, t)) @ k


def dtft(kernel: object, w: object, dilation: int = 1) -> Array:
    """The response ``H_d(w) = H(d*w) = sum_t k[t] exp(-i w t d)`` at arbitrary frequencies.

    Args:
        kernel: 1-d taps ``k[t]`` (array-like or a torch tensor).
        w: frequencies in radians per sample (any shape).
        dilation: ``d``, the spacing of the taps.

    Returns:
        Complex array of the shape of ``w``.

    Examples:
        >>> import numpy as np
        >>> H = dtft([1.0, 1.0], [0.0, np.pi / 2, np.pi])   # 1 + exp(-i w)
        >>> (np.round(H.real, 6) + 0.0).tolist(), (np.round(H.imag, 6) + 0.0).tolist()
        ([2.0, 1.0, 0.0], [0.0, -1.0, 0.0])
        >>> np.allclose(dtft([1.0, 1.0], 0.3, dilation=4), dtft([1.0, 1.0], 1.2))
        True
    """
    k = _as_kernel(kernel, 1)
    d = check_int("dilation", dilation, 1)
    ws = np.asarray(w, dtype=np.float64)
    return _dtft(k, d * ws)


def _grid(n: int) -> Array:
    return np.linspace(0.0, np.pi, check_int("n", n, 2))


def frequency_response(kernel: object, dilation: int = 1, n: int = 1024) -> tuple[Array, Array]:
    """The complex response of a dilated 1-d kernel on ``n`` frequencies of ``[0, pi]``.

    DESIGN section 4: the dilated filter's response is ``H(d*w)``, the undilated one
    compressed by ``d`` and repeated ``d`` times; this evaluates exactly that.

    Args:
        kernel: 1-d taps ``k[t]``, placed at positions ``t * dilation``.
        dilation: ``d >= 1``.
        n: number of frequencies, ``w = linspace(0, pi, n)`` (both ends included).

    Returns:
        ``(w, H)``: float64 ``(n,)`` and complex128 ``(n,)``.

    Examples:
        >>> import numpy as np
        >>> w, H = frequency_response([0.25, 0.5, 0.25], dilation=3, n=4)  # w = 0, pi/3, 2pi/3, pi
        >>> np.round(np.abs(H), 12).tolist()                               # cos^2(3w/2)
        [1.0, 0.0, 1.0, 0.0]
    """
    w = _grid(n)
    return w, dtft(kernel, w, dilation)


def magnitude_response(kernel: object, dilation: int = 1, n: int = 1024) -> tuple[Array, Array]:
    """``(w, |H_d(w)|)`` on ``n`` frequencies of ``[0, pi]`` (see :func:`frequency_response`).

    Examples:
        >>> import numpy as np
        >>> w, mag = magnitude_response([1.0, 1.0, 1.0], dilation=2, n=3)   # w = 0, pi/2, pi
        >>> mag.round(12).tolist()
        [3.0, 1.0, 3.0]
    """
    w, h = frequency_response(kernel, dilation, n)
    return w, np.abs(h)


def _check_level(level: float) -> float:
    try:
        lv = float(level)
    except (TypeError, ValueError):
        raise SpecError(f"level must be a number in (0, 1), got {level!r}") from None
    if not 0.0 < lv < 1.0:
        raise SpecError(f"level must be a number in (0, 1) (a fraction of |H(0)|), got {level!r}")
    return lv


def _undilated_cutoff(k: Array, level: float) -> float:
    """First ``w`` in ``(0, pi]`` with ``|H(w)| = level * |H(0)|`` for the undilated kernel:
    a dense scan for the first sample at or below the level, then bisection to machine
    precision between it and the sample before."""
    dc = abs(complex(k.sum()))
    scale = float(np.abs(k).sum())
    if dc <= 1e-12 * scale:
        raise SpecError(
            f"cutoff needs a lowpass kernel, but |H(0)| = |sum(kernel)| = {dc:.3g} is zero "
            f"(kernel {k.tolist()}): the cut-off is defined relative to the DC gain"
        )
    target = level * dc

    def excess(w: float) -> float:
        return float(abs(_dtft(k, np.array([w]))[0])) - target

    n = max(4096, 64 * k.shape[0])
    w = np.linspace(0.0, np.pi, n)
    below = np.nonzero(np.abs(_dtft(k, w)) - target <= 0.0)[0]
    if below.size == 0:
        raise SpecError(
            f"|H(w)| of kernel {k.tolist()} never falls to {level:.6g} * |H(0)| on [0, pi]: not a lowpass kernel at this level"
        )
    hi = float(w[below[0]])
    lo = float(w[below[0] - 1])  # below[0] >= 1: excess(0) = dc - target > 0
    if excess(hi) == 0.0:
        return hi
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if excess(mid) > 0.0:
            lo = mid
        else:
            hi = mid
    return hi


def cutoff(kernel: object, dilation: int = 1, level: float = HALF_POWER) -> float:
    """The first frequency where ``|H_d(w)|`` falls to ``level * |H_d(0)|``.

    DESIGN section 4: a cut-off ``w_c`` becomes ``w_c/d`` under dilation ``d``. It is
    computed that way: root-finding on the undilated response, then division by ``d``, so
    ``cutoff(k, d) == cutoff(k, 1) / d`` holds exactly.

    Args:
        kernel: 1-d taps of a lowpass kernel (``sum(kernel) != 0``).
        dilation: ``d >= 1``.
        level: fraction of the DC gain, in ``(0, 1)``; the default ``1/sqrt(2)`` is the
            half-power (-3 dB) point.

    Returns:
        The cut-off in radians per sample, in ``(0, pi/d]``.

    Raises:
        SpecError: if ``|H(0)| = |sum(kernel)| == 0`` (no DC gain to fall from), if the
            response never falls to the level on ``[0, pi]``, or on invalid arguments.

    Examples:
        >>> import numpy as np
        >>> wc = cutoff([0.25, 0.5, 0.25])        # cos^2(w/2) = 1/sqrt(2)
        >>> bool(np.isclose(wc, 2 * np.arccos(2 ** -0.25)))
        True
        >>> cutoff([0.25, 0.5, 0.25], dilation=4) == wc / 4
        True
        >>> cutoff([1.0, -1.0])
        Traceback (most recent call last):
        ...
        atrous.errors.SpecError: cutoff needs a lowpass kernel, but |H(0)| = |sum(kernel)| = 0 is zero (kernel [1.0, -1.0]): the cut-off is defined relative to the DC gain
    """
    k = _as_kernel(kernel, 1)
    d = check_int("dilation", dilation, 1)
    return _undilated_cutoff(k, _check_level(level)) / d


def _check_cutoff(value: object) -> float:
    try:
        wc = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise SpecError(f"cutoff must be a number in (0, pi], got {value!r}") from None
    if not 0.0 < wc <= np.pi * (1.0 + 1e-12):
        raise SpecError(f"cutoff must be a frequency in (0, pi] radians per sample, got {value!r}")
    return wc


def rule_of_thumb_stride(dilation: int, cutoff: float) -> int:
    """The stride the popular rule ``w_c/r <= pi/M`` allows: ``floor(pi * r / w_c)``.

    It is right only when the branch's input is band-limited below :func:`band_limit`
    (``2 pi/r - w_c/r``); use :func:`alias_free_stride` for the stride a real path allows. Ratios
    within a relative ``1e-9`` of an integer count as that integer.

    Args:
        dilation: ``r >= 1``.
        cutoff: ``w_c`` in ``(0, pi]``, the cut-off of the *undilated* kernel.

    Examples:
        >>> import math
        >>> rule_of_thumb_stride(6, math.pi / 2), rule_of_thumb_stride(4, math.pi / 3)
        (12, 12)
        >>> rule_of_thumb_stride(2, 0.0)
        Traceback (most recent call last):
        ...
        atrous.errors.SpecError: cutoff must be a frequency in (0, pi] radians per sample, got 0.0
    """
    r = check_int("dilation", dilation, 1)
    wc = _check_cutoff(cutoff)
    return max(1, math.floor(np.pi * r / wc * (1.0 + 1e-9)))


def band_limit(dilation: int, cutoff: float) -> float:
    """``2 pi/r - w_c/r``: the band limit a branch's input needs for the rule ``w_c/r <= pi/M``.

    Below it, the dilated kernel's first repeated passband (around ``2 pi/r``) receives nothing,
    so the branch's output is band-limited to ``w_c/r``. For ``r = 1`` it is ``2 pi - w_c >= pi``:
    every input qualifies.

    Examples:
        >>> round(band_limit(6, cutoff([1.0, 1.0, 1.0])), 6)   # pi/3 - 0.162602
        0.884595
    """
    r = check_int("dilation", dilation, 1)
    wc = _check_cutoff(cutoff)
    return (2.0 * np.pi - wc) / r


Stage = tuple[object, int]


def _stages(kernel: object, dilation: int, before: Sequence[Stage]) -> list[tuple[Array, int]]:
    if isinstance(before, (str, bytes)) or not isinstance(before, Sequence):
        raise SpecError(f"before must be a sequence of (kernel, dilation) pairs, got {before!r}")
    out = []
    for i, stage in enumerate(before):
        if not isinstance(stage, (tuple, list)) or len(stage) != 2:
            raise SpecError(f"before[{i}] must be a (kernel, dilation) pair, got {stage!r}")
        out.append((_as_kernel(stage[0], 1), check_int(f"before[{i}] dilation", stage[1], 1)))
    out.append((_as_kernel(kernel, 1), check_int("dilation", dilation, 1)))
    return out


def _path(stages: Sequence[tuple[Array, int]], w: Array) -> Array:
    h = np.ones(w.shape, dtype=np.complex128)
    for k, d in stages:
        h = h * _dtft(k, d * w)
    return h


def path_response(kernel: object, dilation: int = 1, w: object = None, *, before: Sequence[Stage] = ()) -> Array:
    """The response of a whole stride-1 path at frequencies ``w``: the product of its stages'
    responses, ``prod_i H_i(d_i w)``, the stages of ``before`` first, then ``kernel`` dilated by
    ``dilation``.

    Args:
        kernel, dilation: the last stage (e.g. an ASPP branch).
        w: frequencies in radians per sample (default: 1024 points of ``[0, pi]``).
        before: ``(kernel, dilation)`` pairs of the stages from the input to the last one.

    Examples:
        >>> import numpy as np
        >>> h = path_response([1.0, 1.0, 1.0], 6, [0.0, np.pi / 3], before=[([0.5, 0.5], 1)])
        >>> np.round(np.abs(h), 6).tolist()                   # 3 * |cos(w/2)| at 0 and pi/3
        [3.0, 2.598076]
    """
    stages = _stages(kernel, dilation, before)
    ws = _grid(1024) if w is None else np.asarray(w, dtype=np.float64)
    return _path(stages, ws)


def alias_free_stride(
    kernel: object, dilation: int = 1, *, before: Sequence[Stage] = (), level: float = HALF_POWER
) -> int:
    """The largest stride ``M`` after a path that does not alias, from the path's whole response.

    ``M`` is the largest integer such that ``|H(w)| <= level * |H(0)|`` on all of
    ``[pi/M, pi]``, with ``H`` the response of the whole path (:func:`path_response`): what a
    stride ``M`` folds onto the output is passed at no more than ``level`` times the DC gain.
    The last frequency above the level is found by a dense scan (``64`` points per tap of the
    path's total span, at least 8192) refined by bisection; the rule ``w_c/r <= pi/M``
    (:func:`rule_of_thumb_stride`) gives the same ``M`` only when ``before`` band-limits the
    input below :func:`band_limit`.

    Args:
        kernel: 1-d taps of the last stage (the per-axis profile of a separable 2-d kernel).
        dilation: its dilation ``r >= 1``.
        before: ``(kernel, dilation)`` pairs of the path from the input to this stage (e.g. a
            backbone's low-pass); the empty default is a branch fed by any input.
        level: the fraction of ``|H(0)|`` allowed to fold, in ``(0, 1)`` (default the
            half-power level of :func:`cutoff`).

    Returns:
        ``M >= 1``; 1 when the path passes more than ``level`` at ``w = pi``.

    Raises:
        SpecError: a path with no DC gain (``|H(0)| = 0``), or invalid arguments.

    Examples:
        >>> box = [1.0, 1.0, 1.0]
        >>> alias_free_stride(box), alias_free_stride(box, 6)     # undilated: floor(pi / 0.9756)
        (3, 1)
        >>> smooth = [1.0] * 8                                      # an 8-tap average in front
        >>> alias_free_stride(box, 6, before=[(smooth, 1)]), rule_of_thumb_stride(6, cutoff(box))
        (21, 19)
        >>> alias_free_stride([1.0, 1.0], 1)                        # |cos(w/2)|: half power at pi/2
        2
    """
    lv = _check_level(level)
    stages = _stages(kernel, dilation, before)
    dc = abs(complex(_path(stages, np.zeros(1))[0]))
    scale = float(np.prod([np.abs(k).sum() for k, _ in stages]))
    if dc <= 1e-12 * scale:
        raise SpecError(
            f"alias_free_stride needs a path with DC gain, but |H(0)| = {dc:.3g}: a stride's aliasing is "
            "measured relative to the DC gain"
        )
    target = lv * dc
    span = sum(d * (k.shape[0] - 1) for k, d in stages) + 1
    w = np.linspace(0.0, np.pi, max(8192, 64 * span))
    above = np.nonzero(np.abs(_path(stages, w)) - target > 0.0)[0]
    last = int(above[-1])  # above[0] == 0: the DC gain exceeds the level
    if last == w.shape[0] - 1:
        return 1
    lo, hi = float(w[last]), float(w[last + 1])

    def excess(x: float) -> float:
        return float(abs(_path(stages, np.array([x]))[0])) - target

    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if mid in (lo, hi):
            break
        if excess(mid) > 0.0:
            lo = mid
        else:
            hi = mid
    return max(1, math.floor(np.pi / hi * (1.0 + 1e-9)))


def aspp_alias_free_strides(
    rates: Sequence[int], kernel: object, *, before: Sequence[Stage] = (), level: float = HALF_POWER
) -> dict[int, int]:
    """The largest alias-free stride of each ASPP branch, from each branch's whole path.

    Every branch is ``before`` (the path from the input, e.g. the backbone's low-pass) followed
    by ``kernel`` dilated by its rate: ``{rate: alias_free_stride(kernel, rate, before=before)}``.

    Args:
        rates: the branches' dilations, e.g. DeepLab's ``(6, 12, 18)``.
        kernel: 1-d taps shared by the branches (the per-axis profile of a 2-d kernel).
        before: ``(kernel, dilation)`` pairs in front of every branch.
        level: see :func:`alias_free_stride`.

    Examples:
        >>> box = [1.0, 1.0, 1.0]
        >>> aspp_alias_free_strides((6, 12, 18), box)             # the branches alone: none
        {6: 1, 12: 1, 18: 1}
        >>> aspp_alias_free_strides((6, 12, 18), box, before=[([1.0] * 8, 1)])   # an 8-tap average first
        {6: 21, 12: 39, 18: 8}
        >>> {r: round(band_limit(r, cutoff(box)), 3) for r in (6, 12, 18)}    # what the rule needs
        {6: 0.885, 12: 0.442, 18: 0.295}
    """
    if isinstance(rates, (str, bytes)) or not isinstance(rates, Sequence):
        raise SpecError(f"rates must be a sequence of ints >= 1, got {rates!r}")
    rs = [check_int(f"rates[{i}]", r, 1) for i, r in enumerate(rates)]
    if not rs:
        raise SpecError("rates must list at least one dilation, got []")
    return {r: alias_free_stride(kernel, r, before=before, level=level) for r in rs}


def response_2d(kernel2d: object, dilation: int | Sequence[int] = (1, 1), n: int = 128) -> tuple[Array, Array]:
    """``|H(w_y, w_x)|`` of a dilated 2-d kernel on an ``n x n`` grid, by the FFT of the
    zero-inserted kernel (:func:`atrous.reference.dilate_kernel`).

    DESIGN section 4 per axis: ``H_d(w_y, w_x) = H(d_y w_y, d_x w_x)``: the dilated response
    tiles the undilated one ``d_y x d_x`` times over the frequency square.

    Args:
        kernel2d: ``(K_y, K_x)`` taps.
        dilation: an int or a pair ``(d_y, d_x)``.
        n: grid points per axis; at least the dilated extent ``d (K - 1) + 1`` of each axis.

    Returns:
        ``(w, mag)``: ``w`` the ``n`` frequencies of each axis, centred (``-pi`` to
        ``pi - 2 pi / n``, :func:`numpy.fft.fftshift` order, zero at index ``n // 2``), and
        ``mag[i, j] = |H(w[i], w[j])|`` (rows: ``w_y``, columns: ``w_x``).

    Examples:
        >>> import numpy as np
        >>> w, mag = response_2d(np.ones((3, 3)), dilation=2, n=12)
        >>> float(w[6]), float(mag[6, 6])                   # DC: the sum of the taps
        (0.0, 9.0)
        >>> float(mag[0, 0])                                # (pi, pi) aliases to DC for d = 2
        9.0
    """
    from atrous.reference import dilate_kernel

    k = _as_kernel(kernel2d, 2)
    if isinstance(dilation, Sequence) and not isinstance(dilation, str):
        if len(dilation) != 2:
            raise SpecError(f"dilation must be an int or a pair (d_y, d_x), got {dilation!r}")
        ds = (check_int("dilation[0]", dilation[0], 1), check_int("dilation[1]", dilation[1], 1))
    else:
        d0 = check_int("dilation", dilation, 1)
        ds = (d0, d0)
    size = check_int("n", n, 1)
    extent = ConvSpec(k.shape, dilation=ds).effective_kernel_size
    if size < max(extent):
        raise SpecError(f"n must be at least the dilated kernel's extent {max(extent)} (shape {extent}), got {n}")
    if np.iscomplexobj(k):
        dil = dilate_kernel(k.real, ds) + 1j * dilate_kernel(k.imag, ds)
    else:
        dil = dilate_kernel(k, ds)
    mag = np.abs(np.fft.fftshift(np.fft.fft2(dil, s=(size, size))))
    w = np.fft.fftshift(np.fft.fftfreq(size)) * 2.0 * np.pi
    return w, mag


def periodic_power(image: object, period: int | Sequence[int], *, include_dc: bool = False) -> float:
    """Fraction of an image's spectral power at the frequencies of period ``d``: the checkerboard.

    With ``image`` of ``H x W`` pixels (``H`` divisible by ``d_y``, ``W`` by ``d_x``) and ``P`` the
    power spectrum of the mean-removed image, ``P(k_y, k_x) = |FFT2(image - mean)|^2``, this is

    ``sum of P over (k_y, k_x) = (a H / d_y, b W / d_x), (a, b) != (0, 0)`` divided by ``sum of P``,

    i.e. the power at the angular frequencies ``(2 pi a / d_y, 2 pi b / d_x)``: for ``d = 2`` the
    three frequencies ``(pi, 0)``, ``(0, pi)`` and ``(pi, pi)``, for ``d = 4`` also every multiple
    of ``pi / 2``. By Parseval it equals the energy of the image's *phase pattern* (the mean of
    all pixels with the same ``(i mod d_y, j mod d_x)``, minus the overall mean, tiled over the
    image) over the energy of the mean-removed image; that is how it is computed (exactly, in
    float64). A pattern that repeats with period ``d`` gives 1; a constant image (no power
    anywhere but DC) gives 0; white noise about ``(d_y d_x - 1) / (H W - 1)``; a smooth image
    close to 0.

    ``include_dc=True`` divides by the power *including* DC (the energy of the image itself, not
    mean-removed): the fraction of the whole output that is a period-``d`` pattern. Use it where
    the ideal output is constant (a decoder fed a constant input), whose AC power is all artifact
    and may be as small as float rounding: the default would then report the shape of the
    rounding noise, this reports its size.

    Leading axes (batch, channels) are pooled: both sums run over all images, so the result is
    the fraction of the *total* power of the stack (images with more power weigh more).

    Args:
        image: array-like or torch tensor ``(..., H, W)``, real.
        period: ``d`` (both axes) or ``(d_y, d_x)``, each ``>= 1`` and dividing the image size.
        include_dc: divide by the total power including DC (see above).

    Returns:
        A float in ``[0, 1]``.

    Raises:
        SpecError: fewer than two axes, a period that does not divide the size, non-finite values.

    Examples:
        >>> import numpy as np
        >>> i, j = np.indices((8, 8))
        >>> periodic_power((-1.0) ** (i + j), 2)      # a pure checkerboard: all power at (pi, pi)
        1.0
        >>> periodic_power(np.full((8, 8), 3.0), 2)   # a constant: no power but DC
        0.0
        >>> smooth = np.cos(2 * np.pi * i / 8)          # one cycle per image: not at period 2
        >>> round(periodic_power(smooth + 0.1 * (-1.0) ** i, 2), 6)   # 0.1^2 / (0.5 + 0.1^2)
        0.019608
        >>> round(periodic_power(1.0 + 0.1 * (-1.0) ** i, 2, include_dc=True), 6)   # 0.1^2 / (1 + 0.1^2)
        0.009901
    """
    detach = getattr(image, "detach", None)
    if callable(detach):
        image = detach().cpu().double().numpy()
    try:
        x = np.asarray(image, dtype=np.float64)
    except (TypeError, ValueError):
        raise SpecError(f"image must be a real array (..., H, W), got {type(image).__name__}") from None
    if x.ndim < 2:
        raise SpecError(f"image must have at least two axes (..., H, W), got shape {x.shape}")
    if not np.all(np.isfinite(x)):
        raise SpecError("image must be finite (it holds inf or nan)")
    if isinstance(period, Sequence) and not isinstance(period, str):
        if len(period) != 2:
            raise SpecError(f"period must be an int or a pair (d_y, d_x), got {period!r}")
        py, px = check_int("period[0]", period[0], 1), check_int("period[1]", period[1], 1)
    else:
        py = px = check_int("period", period, 1)
    h, w = x.shape[-2:]
    if h % py or w % px:
        raise SpecError(
            f"period {(py, px)} must divide the image size {(h, w)} (crop the image to a multiple of the period)"
        )
    x = x.reshape((-1, h, w))
    energy = float(np.sum(x * x))
    x = x - x.mean(axis=(-2, -1), keepdims=True)
    total = energy if include_dc else float(np.sum(x * x))
    if total <= 0.0:
        return 0.0
    pattern = x.reshape((x.shape[0], h // py, py, w // px, px)).mean(axis=(1, 3))
    periodic = float(np.sum(pattern * pattern)) * (h // py) * (w // px)
    return float(min(1.0, max(0.0, periodic / total)))
