"""The routes: exact formulations of a zero-padded convolution, one module per family.

Each route computes the same function as PyTorch's call (float32 rounding aside) and is
differentiable. :data:`RUN` maps a route's name to its function ``(x, weight, bias, stride,
pads, dilation, groups) -> Tensor``; :func:`why_not` says why a route cannot compute a call
(``None`` where it can). The transposed routes (``native``, ``subpixel``, ``gemm``) take
``output_padding`` before ``groups``.

- :mod:`~atrous._fast.routes.native`: ``native``, ``channels_last`` (and the transposed native call)
- :mod:`~atrous._fast.routes.padded`: ``pad_w``, ``pad_all``
- :mod:`~atrous._fast.routes.fold`: ``fold``, ``fold_pad``
- :mod:`~atrous._fast.routes.onednn`: ``onednn``
- :mod:`~atrous._fast.routes.depthwise`: ``dw_direct`` (the C kernel)
- :mod:`~atrous._fast.routes.taps`: ``taps``
- :mod:`~atrous._fast.routes.fft`: ``fft``
- :mod:`~atrous._fast.routes.subpixel`: ``subpixel`` (transposed)
- :mod:`~atrous._fast.routes.gemm_t`: ``gemm`` (transposed, 1-d)
- :mod:`~atrous._fast.routes.backward`: PyTorch's backward formulas the routes share
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from atrous._fast.calls import Ints, Pads, out_sizes
from atrous._fast.routes import depthwise, fft, fold, gemm_t, native, onednn, padded, subpixel, taps

__all__ = ["RUN", "RUN_T", "RunFn", "why_not", "why_not_t"]

RunFn = Callable[[Tensor, Tensor, "Tensor | None", Ints, Pads, Ints, int], Tensor]
WhyNotFn = Callable[[Tensor, Tensor, "Tensor | None", Ints, Pads, Ints, int], "str | None"]

RUN: dict[str, RunFn] = {
    "native": native.run,
    "pad_w": padded.run_pad_w,
    "pad_all": padded.run_pad_all,
    "channels_last": native.run_channels_last,
    "fold": fold.run_fold,
    "fold_pad": fold.run_fold_pad,
    "onednn": onednn.run,
    "dw_direct": depthwise.run,
    "taps": taps.run,
    "fft": fft.run,
}
RUN_T = {"native": native.run_t, "subpixel": subpixel.run, "gemm": gemm_t.run}

#: each route's own conditions (after the common checks of :func:`why_not`)
_WHY_NOT: dict[str, WhyNotFn | None] = {
    "pad_all": None,
    "pad_w": padded.why_not_pad_w,
    "channels_last": native.why_not_channels_last,
    "fold": fold.why_not_fold,
    "fold_pad": fold.why_not_fold_pad,
    "onednn": onednn.why_not,
    "dw_direct": depthwise.why_not,
    "taps": taps.why_not,
    "fft": fft.why_not,
}


def why_not(
    route: str, x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> str | None:
    """``None`` where ``route`` computes this call, else the reason it cannot."""
    if route == "native":
        return None
    if route not in _WHY_NOT:
        return f"unknown route {route!r}"
    if weight.dtype != x.dtype or weight.device != x.device or weight.dim() != x.dim():
        return "weight and input differ in dtype, device or rank"
    if bias is not None and (bias.dtype != x.dtype or bias.device != x.device or bias.shape != (weight.shape[0],)):
        return "the bias does not match the weight (dtype, device or length)"
    if any(o < 1 for o in out_sizes(x.shape[2:], weight.shape[2:], stride, pads, dilation)):
        return "the input is smaller than the kernel"
    specific = _WHY_NOT[route]
    return None if specific is None else specific(x, weight, bias, stride, pads, dilation, groups)


def why_not_t(route: str, x: Tensor, weight: Tensor, stride: Ints, dilation: Ints) -> str | None:
    """The same for a transposed route."""
    if route == "native":
        return None
    if route == "subpixel":
        return subpixel.why_not(x, weight, stride, dilation)
    if route == "gemm":
        return gemm_t.why_not(x, weight, stride, dilation)
    return f"unknown transposed route {route!r}"
