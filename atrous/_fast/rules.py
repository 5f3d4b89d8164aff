"""The rules that choose a route per call, and the thresholds they rest on.

Each threshold is measured by ``benchmarks/bench_ops.py`` on the reference machine (a 2-core
AVX-512 CPU, torch 2.13, float32; see BENCHMARKS.md). :func:`rule` returns the rule's route
and the candidates an autotune may compare where the rule is ambiguous.
"""

from __future__ import annotations

import torch
from torch import Tensor

from atrous._fast import ckernel
from atrous._fast.calls import Ints, Pads
from atrous._fast.routes.depthwise import is_depthwise
from atrous._fast.routes.fold import FOLD2_MAX_FACTOR, FOLD2_MIN_FACTOR, fold_factor, fold_pad_factor, fold_plan
from atrous._fast.routes.onednn import mkldnn_ok, slow_backend

__all__ = ["RULES_VERSION", "gemm_t_rule", "rule", "subpixel_candidate"]

RULES_VERSION = 6  # bump when the rules change: autotune entries of older rules are stale

#: oneDNN's depthwise jit kernel refuses a W padding of 7 or more (and a padding wider than the
#: dilated kernel) and PyTorch falls back to im2col + GEMM: 5-9x slower.
DW_CLIFF_PAD = 7
#: below the cliff the C kernel's 3x3 loop beat oneDNN at every shape measured (2-d: N 1/8, C
#: 32-256, 33x33-128x128, d 1-4: 0.26-0.87 of the native time forward, 0.14-0.93 forward +
#: backward; tiny inputs 0.02-0.6, where PyTorch's call costs >= 50 us). Other kernel sizes
#: (the general loop) win only with few planes (N*C <= 64: 0.26-0.44) or big tensors
#: (>= 2^22 elements: 0.21-0.57); between the two oneDNN was faster (up to 1.6x)
DW_FEW_PLANES = 64
DW_BIG_ELEMENTS = 1 << 22
#: dense convolutions slow down 1.3-2.4x once the W padding exceeds the kernel's register block
#: (between 7 and 16 depending on channels, width and batch): ambiguous from here on.
DENSE_CLIFF_PAD = 7
#: with at least this many output channels the cliff appeared at every width >= 33 measured.
DENSE_SURE_CHANNELS = 128
#: 1-d: a W padding this large is always slower natively than padded (measured at d >= 64).
ONE_D_SURE_PAD = 32
#: fold, 1-d: the smallest fold factor that beat the native call at every measured shape.
FOLD_MIN_FACTOR = 16
#: fold / fold_pad, 2-d: ``fold_pad`` pads W by at most this fraction of its width (measured:
#: 3-9%), and needs a batch of at least ``FOLD2_MIN_BATCH`` (its factors: ``FOLD2_MIN_FACTOR``
#: to ``FOLD2_MAX_FACTOR``, :mod:`atrous._fast.routes.fold`)
FOLD2_MAX_PAD = 0.125
FOLD2_MIN_BATCH = 2
#: 1-d inputs below this many elements (N*C*L; 0.1 ms calls) are not folded: the fold beat
#: native(d) there in separate timings (0.48-1.01 with channels in whole blocks, k >= 3) but not
#: in the benchmark's (N1 C32 L1024 k3 d=512: 1.09), and with its call plan it measured
#: 0.95-0.97 of native(d) at C32 k3, 1.08-1.13 at k2 and 1.21 at d=16: not proven (``taps`` below).
ONE_D_MIN_ELEMENTS = 1 << 16
#: taps, 1-d below ``ONE_D_MIN_ELEMENTS`` (0.03-0.3 ms calls): with stride 1, a padding of at
#: least ``TAPS_MIN_PAD`` on one side, batch 1, at most ``TAPS_MAX_TAPS`` taps, ``TAPS_MIN_IN``
#: or more input and at most ``TAPS_MAX_OUT`` output channels, one matrix product per tap
#: measured 0.49-1.02 of native(d) forward (16 shapes: "same" and causal padding, C 8-64, L
#: 512-1024, d 16-512; 1.02 once, causal d=16, else <= 0.85), 0.41-1.01 forward + backward.
#: Outside: batch 2 (1.05, backward 1.26), 5-9 taps (1.08-1.21), 64 output channels
#: (1.04-1.28), one input channel (backward 1.27), padding 8 (1.10).
TAPS_MIN_PAD = 32
TAPS_MAX_TAPS = 3
TAPS_MIN_IN = 8
TAPS_MAX_OUT = 32
#: oneDNN's channel block on this CPU (AVX-512: 16): the 1-d cliff the fold avoids belongs to its
#: blocked kernel; with input channels not in whole blocks (C8/C24/C40) native(d) was as fast as
#: dilation 1 and the fold up to 1.33x slower (N1 C40 L4096 d=64), so those stay native.
CHANNEL_BLOCK = 16
#: transposed (2-d, stride > 1, dilation 1): the sub-pixel form beat oneDNN's deconvolution
#: only with >= 128 input channels on >= 128x128 inputs (0.73-0.87); elsewhere it lost
#: (up to 2.5x), so it is only an autotune candidate there.
SUBPIXEL_MIN_CHANNELS = 128
SUBPIXEL_MIN_PIXELS = 128 * 128
#: fft: the fewest taps (dense 1-d, dilation 1) from which the FFT route was faster.
FFT_MIN_TAPS = 128


def _fold2_routes(x: Tensor, weight: Tensor, pads: Pads, dilation: Ints) -> list[str]:
    """The 2-d folds worth running here: ``fold`` where the view's factor is at least 2,
    ``fold_pad`` where its factor is in ``[FOLD2_MIN_FACTOR, FOLD2_MAX_FACTOR]`` and it pads W by
    at most ``FOLD2_MAX_PAD`` of its width; each only where PyTorch runs the folded 3-d
    convolution with oneDNN (not its slow reference kernels). The rule's choice comes first."""
    lo, hi = pads[-1]
    d = dilation[-1]
    n = x.shape[-1]
    found: list[tuple[bool, str, int]] = []  # (preferred, route, factor)
    pure = fold_factor(n, d, lo, hi)
    if pure >= 2:
        found.append((pure >= FOLD2_MIN_FACTOR, "fold", pure))
    f = fold_pad_factor(n, d, lo, hi)
    if FOLD2_MIN_FACTOR <= f <= FOLD2_MAX_FACTOR and f != pure:
        a, b, _, _ = fold_plan(n, d, lo, hi, f)
        if a + b <= FOLD2_MAX_PAD * n:  # more would cost more than it saves
            found.append((pure < FOLD2_MIN_FACTOR, "fold_pad", f))
    routes: list[str] = []
    for preferred, route, f in sorted(found, key=lambda t: not t[0]):
        a, b, units, _ = fold_plan(n, d, lo, hi, f)
        folded = x.new_empty((*x.shape[:-1], (n + a + b) // f, f))
        slow = slow_backend(
            folded, weight.unsqueeze(-1), (1, 1, 1), (pads[0], (units, units), (0, 0)), (dilation[0], d // f, 1), 1
        )
        if not slow and (preferred or routes):
            routes.append(route)
    return routes


def rule(
    x: Tensor, weight: Tensor, stride: Ints, pads: Pads, dilation: Ints, groups: int
) -> tuple[str, tuple[str, ...]]:
    """The rule's route and the candidates an autotune may compare (more than one only where
    the rule is ambiguous)."""
    if x.dtype != torch.float32:
        return "native", ()
    nd = len(pads)
    unit = all(s == 1 for s in stride)
    lo_w, hi_w = pads[-1]
    pad_w = max(lo_w, hi_w)
    depthwise = is_depthwise(x, weight, groups)
    # 1. small 3-d inputs: PyTorch's rule picks slow_conv3d / slow_conv_dilated3d (14-40x slower)
    if nd == 3 and unit and not depthwise and mkldnn_ok() and slow_backend(x, weight, stride, pads, dilation, groups):
        return "onednn", ()
    # 2. depthwise past oneDNN's padding cliff: the C kernel (cost independent of dilation)
    if depthwise and unit and nd in (1, 2):
        span_w = dilation[-1] * (weight.shape[-1] - 1)
        if pad_w >= DW_CLIFF_PAD or pad_w > span_w:
            return ("dw_direct" if ckernel.load() is not None else "pad_w"), ()
        planes = x.shape[0] * x.shape[1]
        if (
            nd == 2
            and (weight.shape[-2:] == (3, 3) or planes <= DW_FEW_PLANES or x.numel() >= DW_BIG_ELEMENTS)
            and ckernel.load() is not None
        ):
            return "dw_direct", ()
        return "native", ()
    big = x.numel() >= ONE_D_MIN_ELEMENTS
    # 3. small 1-d with a large padding: one matrix product per tap, over the outputs where the
    #    tap reads the input (the padding is neither copied nor multiplied)
    if (
        nd == 1
        and unit
        and groups == 1
        and not big
        and x.shape[0] == 1
        and weight.shape[-1] <= TAPS_MAX_TAPS
        and x.shape[1] >= TAPS_MIN_IN
        and weight.shape[0] <= TAPS_MAX_OUT
        and pad_w >= TAPS_MIN_PAD
        and min(lo_w, hi_w) >= 0
    ):
        return "taps", ()
    # 4. 1-d with a large dilation: fold the length (no copy, no W padding) where oneDNN's
    #    blocked kernel has the cliff (input channels in whole blocks); elsewhere the autotune
    if nd == 1 and unit and big and min(lo_w, hi_w) >= 0:
        span = dilation[0] * (weight.shape[-1] - 1)
        if span >= FOLD_MIN_FACTOR and fold_factor(x.shape[-1], dilation[0], lo_w, hi_w) >= FOLD_MIN_FACTOR:
            blocked = x.shape[1] % CHANNEL_BLOCK == 0
            return ("fold" if blocked else "native"), ("fold", "pad_w", "native")
    # 5. very long dense kernels: FFT
    if nd == 1 and unit and groups == 1 and dilation[0] == 1 and weight.shape[-1] >= FFT_MIN_TAPS:
        return "fft", ("fft", "native")
    # 6. the W-padding cliff of oneDNN's direct kernels (only where PyTorch gets the padding);
    #    unmeasured cases (stride > 1, grouped) are left to the autotune
    if pad_w >= DENSE_CLIFF_PAD and lo_w == hi_w:
        measured = unit and groups == 1
        candidates: tuple[str, ...] = ("native", "pad_w", "channels_last") if nd > 1 else ("native", "pad_w")
        # 6a. dense 2-d with a batch: fold W into a third axis (the dilation leaves the innermost axis)
        if nd == 2 and measured and x.shape[0] >= FOLD2_MIN_BATCH:
            folds = _fold2_routes(x, weight, pads, dilation)
            if folds:
                return folds[0], (*folds, *candidates)
        sure = measured and (weight.shape[0] >= DENSE_SURE_CHANNELS or (nd == 1 and big and pad_w >= ONE_D_SURE_PAD))
        return ("pad_w" if sure else "native"), candidates
    return "native", ()


#: the 1-d transposed ``gemm`` route is the rule where the weight has at least this many
#: elements and this many times the input's (measured on one core, float32, stride 2-8: PyTorch's
#: CPU transposed kernel cost 11.9 ms for (512 -> 256, k 16, s 8) on 2 input samples, the GEMM
#: form 0.9 ms; at 64 samples 7.8 ms against 6.0 ms; below these bounds the native call wins)
GEMM_T_MIN_WEIGHT = 65536
GEMM_T_MIN_RATIO = 32


def gemm_t_rule(x: Tensor, weight: Tensor) -> bool:
    """Whether a transposed convolution takes the ``gemm`` route by rule: 1-d, float, a weight
    much larger than the input (a short chunk through a wide upsampler: streaming)."""
    return (
        x.dim() == 3
        and x.dtype in (torch.float32, torch.float64)
        and weight.dtype == x.dtype
        and weight.numel() >= GEMM_T_MIN_WEIGHT
        and weight.numel() >= GEMM_T_MIN_RATIO * x.numel()
    )


def subpixel_candidate(x: Tensor, weight: Tensor, bias: Tensor | None, stride: Ints, dilation: Ints) -> bool:
    """Whether the autotune compares the sub-pixel form with PyTorch's transposed call (the rule
    itself never picks it: it lost at most measured sizes)."""
    return (
        x.dtype == torch.float32
        and x.dim() == 4
        and any(s > 1 for s in stride)
        and all(d == 1 for d in dilation)
        and x.shape[1] >= SUBPIXEL_MIN_CHANNELS
        and x.shape[2] * x.shape[3] >= SUBPIXEL_MIN_PIXELS
        and (bias is None or bias.dtype == x.dtype)
        and weight.dtype == x.dtype
    )
