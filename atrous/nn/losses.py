"""Losses against periodic artifacts: :class:`ShiftConsistencyLoss`.

A network built only from stride-1 layers (dilated or not) is shift-equivariant: shifting its
input shifts its output. Downsampling followed by upsampling breaks that for shifts that are not
multiples of the total stride ``d``: the output then carries a pattern of period ``d`` that stays
put while the content moves (the checkerboard of a decoder, the blocky grid of an output-stride-8
segmentation head). :class:`ShiftConsistencyLoss` measures exactly that failure.

When to use it:

* encoder-decoders and decoders whose output has the input's resolution: strided or pooled
  encoders followed by transposed convolutions, nearest / bilinear upsampling or pixel shuffles
  (``period`` = the total downsampling factor);
* DeepLab-style dilated backbones with an output stride (dilated stacks that *repeat* a rate after
  a stride, then upsample): the period is the output stride.

When it does not help: a stack of stride-1 dilated convolutions is shift-equivariant however
badly it grids (rates 2, 2, 2 leave holes, see :attr:`atrous.geometry.Field.has_holes` and
:func:`atrous.hdc`), so the loss is zero for it (up to the borders); gridding in such stacks is a
property of the tap sets, not of shift consistency.

Examples:
    >>> import torch
    >>> from torch import nn
    >>> from atrous.nn import Conv2d
    >>> torch.manual_seed(0)  # doctest: +ELLIPSIS
    <torch._C.Generator object at ...>
    >>> # encoder (stride 2) + dilated conv + nearest upsampling: period-2 artifacts
    >>> net = nn.Sequential(
    ...     Conv2d(1, 4, 3, stride=2, padding="same", padding_mode="circular"),
    ...     Conv2d(4, 4, 3, dilation=2, padding="same", padding_mode="circular"),
    ...     nn.Upsample(scale_factor=2, mode="nearest"),
    ... )
    >>> loss_fn = ShiftConsistencyLoss(net, period=2, dims=(-2, -1), circular=True)
    >>> x = torch.randn(2, 1, 16, 16)
    >>> loss = loss_fn(x)
    >>> bool(loss > 0)
    True
    >>> loss.backward()  # train with: task_loss + weight * loss_fn(x, y=prediction)
    >>> equivariant = net[1]  # stride 1, circular padding: exactly shift-equivariant
    >>> ShiftConsistencyLoss(equivariant, period=2, dims=(-2, -1), circular=True)(torch.randn(2, 4, 8, 8)).item() < 1e-12
    True
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Sequence

import torch
from torch import Tensor, nn

from atrous.errors import SpecError
from atrous.geometry.spec import check_int

__all__ = ["ShiftConsistencyLoss", "shift_consistency"]

_REDUCTIONS = ("mean", "sum", "none")


def _sequence(values: object, name: str) -> list[object]:
    if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
        raise SpecError(f"{name} must be an int or a sequence of ints, got {values!r}")
    return list(values)


def _dims(dims: object) -> tuple[int, ...]:
    out = []
    for i, d in enumerate(_sequence(dims, "dims")):
        if isinstance(d, bool) or not isinstance(d, int):
            raise SpecError(f"dims[{i}] must be an integer (a dimension index, e.g. -1), got {d!r}")
        out.append(d)
    return tuple(out)


def _shift_list(periods: Sequence[int], mode: str) -> list[tuple[int, ...]]:
    n = len(periods)
    if mode == "axes":
        out = []
        for i, p in enumerate(periods):
            for s in range(1, p):
                vec = [0] * n
                vec[i] = s
                out.append(tuple(vec))
        return out
    grid = itertools.product(*(range(p) for p in periods))
    return [v for v in grid if any(v)]


def shift_consistency(
    model: Callable[[Tensor], Tensor],
    x: Tensor,
    period: int | Sequence[int],
    dims: Sequence[int] = (-1,),
    *,
    y: Tensor | None = None,
    reduction: str = "mean",
    circular: bool = False,
    margin: int = 0,
    shifts: str = "axes",
    batch_shifts: bool = False,
) -> Tensor:
    """Functional form of :class:`ShiftConsistencyLoss` (see there for the arguments)."""
    if reduction not in _REDUCTIONS:
        raise SpecError(f"reduction must be one of {', '.join(_REDUCTIONS)}, got {reduction!r}")
    if shifts not in ("axes", "grid"):
        raise SpecError(f"shifts must be 'axes' or 'grid', got {shifts!r}")
    margin = check_int("margin", margin, 0)
    if not callable(model):
        raise SpecError(f"model must be callable, got {type(model).__name__}")
    for name, arg in (("x", x), ("y", y)):
        if not (isinstance(arg, Tensor) or (name == "y" and arg is None)):
            raise SpecError(f"{name} must be a tensor, got {type(arg).__name__}")
    dims = _dims(dims)
    if not dims:
        raise SpecError("dims must name at least one spatial axis, got ()")
    if isinstance(period, int):
        periods = (check_int("period", period, 1),) * len(dims)
    else:
        periods = tuple(check_int(f"period[{i}]", p, 1) for i, p in enumerate(_sequence(period, "period")))
        if len(periods) != len(dims):
            raise SpecError(f"period has {len(periods)} entries, expected {len(dims)} (one per dim in {dims})")
    for d in dims:
        if not -x.dim() <= d < x.dim():
            raise SpecError(f"dim {d} is out of range for an input with {x.dim()} dimensions")
    if len({d % x.dim() for d in dims}) != len(dims):
        raise SpecError(f"dims must be distinct, got {dims}")
    if y is None:
        y = model(x)
    vectors = _shift_list(periods, shifts)
    if not vectors:  # period 1 everywhere: nothing to compare
        zero = (y * 0).sum()
        return zero.reshape(0) if reduction == "none" else zero
    out_dims = []
    for d in dims:
        od = d if d < 0 else d - x.dim()  # count from the end: the output may change the channels
        if not -y.dim() <= od < 0:
            raise SpecError(f"dim {d} does not exist in the output of shape {tuple(y.shape)}")
        out_dims.append(od)
    n_in = [x.shape[d] for d in dims]
    n_out = [y.shape[d] for d in out_dims]

    def out_shift(vec: tuple[int, ...]) -> tuple[int, ...]:
        res = []
        for s, ni, no, d in zip(vec, n_in, n_out, dims, strict=True):
            if (s * no) % ni:
                raise SpecError(
                    f"a shift of {s} along dim {d} (input size {ni}, output size {no}) is not a whole number "
                    "of output positions: the model's output must have the input's resolution, or an integer "
                    "multiple of it"
                )
            res.append(s * no // ni)
        return tuple(res)

    if batch_shifts:
        xs = torch.cat([torch.roll(x, v, dims) for v in vectors], dim=0)
        shifted_outputs = list(torch.split(model(xs), x.shape[0], dim=0))
    else:
        shifted_outputs = [model(torch.roll(x, v, dims)) for v in vectors]
    terms = []
    for vec, ys in zip(vectors, shifted_outputs, strict=True):
        t = out_shift(vec)
        ref = torch.roll(y, t, out_dims)
        if ys.shape != ref.shape:
            raise SpecError(f"the model's output changed shape under a shift: {tuple(ref.shape)} vs {tuple(ys.shape)}")
        diff = (ref - ys).pow(2)
        if not circular:
            for ti, od, no in zip(t, out_dims, n_out, strict=True):
                if ti == 0:
                    continue  # this axis is not shifted: both sides see the same borders
                lo, hi = ti + margin, no - margin
                if lo >= hi:
                    raise SpecError(
                        f"nothing left to compare along dim {od}: output size {no}, shift {ti}, margin {margin}"
                    )
                diff = diff.narrow(od, lo, hi - lo)
        terms.append(diff.sum() if reduction == "sum" else diff.mean())
    stacked = torch.stack(terms)
    if reduction == "none":
        return stacked
    return stacked.sum() if reduction == "sum" else stacked.mean()


class ShiftConsistencyLoss(nn.Module):
    """Penalise period-``d`` artifacts: ``mean_s || roll(model(x), s) - model(roll(x, s)) ||^2``.

    For each shift ``s`` in ``1 .. period - 1`` along each of ``dims`` (``shifts="axes"``; with
    ``shifts="grid"`` every non-zero shift vector in ``{0 .. period-1}^len(dims)``), the input is
    rolled circularly (``torch.roll``) and the model's output on it is compared with the rolled
    output. A shift-equivariant model (stride 1 throughout, circular padding) gives exactly 0; a
    model whose output carries a pattern of period ``d`` that does not move with the content
    (downsampling then upsampling) gives a positive loss. When the output is ``m`` times larger
    than the input along a dim (a decoder), an input shift ``s`` is compared with an output shift
    ``m * s``.

    Borders. ``torch.roll`` wraps the input around; a model that pads with zeros (or reflects)
    sees a seam there that a circular model would not. Unless ``circular=True``, the first ``s``
    output positions along each shifted dim (the wrapped part) are cropped out of the comparison,
    and ``margin`` more positions after them and at the far end (set ``margin`` to the receptive
    field radius to remove all padding effects; with ``margin=0`` a small, constant border term
    remains for non-circular models).

    Args:
        model_or_fn: the model (any callable ``Tensor -> Tensor``). It is not registered as a
            submodule: the loss holds no parameters of its own.
        period: the artifact period ``d`` (the total stride), an int or one per dim.
        dims: spatial dims to shift (negative: counted from the end, in both input and output).
        reduction: ``"mean"`` (mean over shifts of the mean squared difference), ``"sum"`` (sum
            over shifts and positions) or ``"none"`` (one mean per shift, shape ``(num_shifts,)``).
        circular: the model pads circularly: compare everything, crop nothing.
        margin: extra positions cropped at both ends of each shifted dim (non-circular models).
        shifts: ``"axes"`` (each dim on its own) or ``"grid"`` (all shift vectors, diagonals too).
        batch_shifts: run all shifted inputs in one call, concatenated along dim 0 (faster; the
            model must treat batch items independently, e.g. no BatchNorm in training mode).

    Call:
        ``loss_fn(x)`` runs ``model(x)`` itself; ``loss_fn(x, y)`` reuses a prediction
        ``y = model(x)`` computed for the task loss.

    Returns:
        A scalar (``"mean"``/``"sum"``) with gradients into the model's parameters.
    """

    def __init__(
        self,
        model_or_fn: Callable[[Tensor], Tensor],
        period: int | Sequence[int],
        dims: Sequence[int] = (-1,),
        reduction: str = "mean",
        *,
        circular: bool = False,
        margin: int = 0,
        shifts: str = "axes",
        batch_shifts: bool = False,
    ) -> None:
        super().__init__()
        if not callable(model_or_fn):
            raise SpecError(f"model_or_fn must be callable, got {type(model_or_fn).__name__}")
        if reduction not in _REDUCTIONS:
            raise SpecError(f"reduction must be one of {', '.join(_REDUCTIONS)}, got {reduction!r}")
        if shifts not in ("axes", "grid"):
            raise SpecError(f"shifts must be 'axes' or 'grid', got {shifts!r}")
        # bypass nn.Module.__setattr__: the model stays the caller's (not in our state_dict / parameters)
        object.__setattr__(self, "model", model_or_fn)
        if isinstance(period, int):
            self.period: int | tuple[int, ...] = check_int("period", period, 1)
        else:
            self.period = tuple(check_int(f"period[{i}]", p, 1) for i, p in enumerate(_sequence(period, "period")))
        self.dims = _dims(dims)
        self.reduction = reduction
        self.circular = bool(circular)
        self.margin = check_int("margin", margin, 0)
        self.shifts = shifts
        self.batch_shifts = bool(batch_shifts)

    model: Callable[[Tensor], Tensor]

    def forward(self, x: Tensor, y: Tensor | None = None) -> Tensor:
        return shift_consistency(
            self.model,
            x,
            self.period,
            self.dims,
            y=y,
            reduction=self.reduction,
            circular=self.circular,
            margin=self.margin,
            shifts=self.shifts,
            batch_shifts=self.batch_shifts,
        )

    def extra_repr(self) -> str:
        return (
            f"period={self.period}, dims={self.dims}, reduction={self.reduction!r}, circular={self.circular}, "
            f"margin={self.margin}, shifts={self.shifts!r}"
        )
