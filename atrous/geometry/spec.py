"""Layer specifications: ``ConvSpec``, ``PoolSpec`` and ``UpsampleSpec``.

A spec is immutable, N-dimensional and validated on construction. Every parameter is stored
per axis. A spec built from scalars only (``ConvSpec(3, dilation=2)``) *broadcasts*: it
applies to an input of any number of spatial axes, as PyTorch's ``padding=1`` does.

Padding is given as

* an ``int`` (the same on both sides of every axis),
* a sequence with one entry per axis, each an ``int``, a ``(lo, hi)`` pair or a mode name,
* a mode name for every axis: ``"valid"``, ``"same"``, ``"causal"`` or ``"full"``.

Modes are resolved against an input size by :meth:`ConvSpec.resolve` (``"same"`` with a
stride above 1 depends on the input size, following TensorFlow's rule). For a transposed
convolution a mode names the convolution whose adjoint it is: ``"same"`` gives an output of
``input * stride`` (``output_padding`` chosen for you), ``"causal"`` and ``"full"`` pad as the
convolution would.

Examples:
    >>> ConvSpec(3, dilation=2)
    ConvSpec(kernel_size=3, dilation=2)
    >>> ConvSpec((3, 3), stride=2, padding="same").resolve((9, 9)).padding
    ((1, 1), (1, 1))
    >>> ConvSpec(4, stride=2, padding=1, transposed=True).effective_kernel_size
    (4,)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, TypeVar

from atrous.errors import SpecError

__all__ = [
    "PADDING_MODES",
    "Axis",
    "ConvSpec",
    "LayerSpec",
    "PoolSpec",
    "UpsampleSpec",
    "as_spec",
    "register_spec_reader",
]

PADDING_MODES = ("valid", "same", "causal", "full")

PadEntry = tuple[int, int] | str

#: what a ``padding`` argument may be: an int, per-axis ints, per-axis ``(lo, hi)`` pairs, or a
#: mode name (``"valid"``, ``"same"``, ``"causal"``, ``"full"``), for the whole layer or per axis
PaddingLike = int | str | Sequence[int | str | tuple[int, int]]
AxisKind = Literal["conv", "transposed", "pool", "upsample", "linear"]


# --------------------------------------------------------------------------- validation


def check_int(name: str, value: object, minimum: int, maximum: int | None = None) -> int:
    """Return ``value`` if it is an ``int`` in ``[minimum, maximum]``, else raise SpecError."""
    if isinstance(value, bool) or not isinstance(value, int):
        # numpy / torch integers are accepted through __index__, floats never are.
        index = getattr(value, "__index__", None)
        if index is None or isinstance(value, bool):
            rng = _range_text(minimum, maximum)
            raise SpecError(f"{name} must be an integer {rng}, got {value!r}")
        value = index()
    assert isinstance(value, int)
    if value < minimum or (maximum is not None and value > maximum):
        raise SpecError(f"{name} must be an integer {_range_text(minimum, maximum)}, got {value}")
    return value


def _range_text(minimum: int, maximum: int | None) -> str:
    if maximum is None:
        return f">= {minimum}"
    if maximum == minimum:
        return f"equal to {minimum}"
    return f"in [{minimum}, {maximum}]"


def _is_seq(value: object) -> bool:
    return isinstance(value, Sequence) and not isinstance(value, str)


def _length(value: object) -> int | None:
    return len(value) if _is_seq(value) else None  # type: ignore[arg-type]


def per_axis(name: str, value: object, ndim: int, minimum: int) -> tuple[int, ...]:
    """Normalise an int or a sequence of ints to one validated int per axis."""
    if _is_seq(value):
        assert isinstance(value, Sequence)
        if len(value) != ndim:
            raise SpecError(f"{name} has {len(value)} entries {tuple(value)!r}, expected {ndim} (one per axis)")
        return tuple(check_int(f"{name}[{i}]", v, minimum) for i, v in enumerate(value))
    return (check_int(name, value, minimum),) * ndim


def _pad_entry(name: str, value: object) -> PadEntry:
    if isinstance(value, str):
        if value not in PADDING_MODES:
            raise SpecError(
                f"{name} must be an integer >= 0, a (lo, hi) pair or one of {', '.join(PADDING_MODES)}; got {value!r}"
            )
        return value
    if _is_seq(value):
        assert isinstance(value, Sequence)
        if len(value) != 2:
            raise SpecError(f"{name} must be an integer or a (lo, hi) pair, got {tuple(value)!r}")
        return (check_int(f"{name}[0] (lo)", value[0], 0), check_int(f"{name}[1] (hi)", value[1], 0))
    p = check_int(name, value, 0)
    return (p, p)


def normalise_padding(value: object, ndim: int) -> tuple[PadEntry, ...]:
    """Normalise a padding argument to one ``(lo, hi)`` pair or mode name per axis."""
    if _is_seq(value):
        assert isinstance(value, Sequence)
        if len(value) != ndim:
            raise SpecError(
                f"padding has {len(value)} entries {tuple(value)!r}, expected {ndim} (one per axis; "
                "write an asymmetric 1-d padding as ((lo, hi),))"
            )
        return tuple(_pad_entry(f"padding[{i}]", v) for i, v in enumerate(value))
    return (_pad_entry("padding", value),) * ndim


def _infer_ndim(ndim: int | None, **values: object) -> tuple[int, bool]:
    lengths = {k: n for k, v in values.items() if (n := _length(v)) is not None}
    if ndim is not None:
        ndim = check_int("ndim", ndim, 1)
        for k, n in lengths.items():
            if n != ndim:
                raise SpecError(f"{k} has {n} entries, expected ndim={ndim}")
        return ndim, False
    if not lengths:
        return 1, True
    distinct = set(lengths.values())
    if len(distinct) > 1:
        listing = ", ".join(f"{k} has {n}" for k, n in lengths.items())
        raise SpecError(f"per-axis parameters disagree on the number of axes: {listing}")
    n = distinct.pop()
    if n < 1:
        raise SpecError("per-axis parameters must have at least one entry")
    return n, False


# --------------------------------------------------------------------------- per-axis view


@dataclass(frozen=True)
class Axis:
    """One axis of a layer with its padding resolved: the unit all arithmetic works on.

    ``kind`` is ``"conv"``, ``"transposed"``, ``"pool"``, ``"upsample"`` (nearest) or
    ``"linear"`` (linear interpolation, ``align_corners=False``). For the last two ``stride``
    holds the integer scale factor and ``kernel`` is 1 (nearest) or 2 (linear).
    """

    kind: AxisKind
    kernel: int = 1
    stride: int = 1
    dilation: int = 1
    lo: int = 0
    hi: int = 0
    output_padding: int = 0
    ceil_mode: bool = False

    @property
    def effective_kernel(self) -> int:
        """Span of the dilated kernel: ``dilation * (kernel - 1) + 1``."""
        return self.dilation * (self.kernel - 1) + 1

    @property
    def shifts(self) -> tuple[int, int]:
        """``(a, b)``: shifting the input by ``a`` shifts the output by ``b``."""
        if self.kind in ("transposed", "upsample", "linear"):
            return 1, self.stride
        return self.stride, 1


# --------------------------------------------------------------------------- specs

_S = TypeVar("_S", bound="_Spec")


class _Spec:
    """Shared behaviour of the three spec classes."""

    __slots__ = ("_broadcast", "_frozen", "ndim")
    ndim: int
    _broadcast: bool

    def _freeze(self) -> None:
        object.__setattr__(self, "_frozen", True)

    def _fields(self) -> dict[str, tuple[object, ...]]:
        raise NotImplementedError

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._key() == other._key()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self._key()))

    def _key(self) -> tuple[object, ...]:
        return (self.ndim, self._broadcast, tuple(self._fields().items()))

    def __setattr__(self, name: str, value: object) -> None:
        if hasattr(self, "_frozen"):
            raise AttributeError(f"{type(self).__name__} is immutable")
        object.__setattr__(self, name, value)

    def _init_kwargs(self) -> dict[str, object]:
        raise NotImplementedError

    def __reduce__(self) -> tuple[object, ...]:
        # rebuilt through the constructor (validated again); a broadcasting spec stays one
        kwargs = self._init_kwargs()
        if self._broadcast:
            kwargs = {k: (v[0] if isinstance(v, tuple) else v) for k, v in kwargs.items()}
            pad = kwargs.get("padding")
            if isinstance(pad, tuple):  # a broadcasting padding is symmetric: (p, p) -> p
                kwargs["padding"] = pad[0]
        else:
            kwargs["ndim"] = self.ndim
        return (_rebuild, (type(self), kwargs))

    def __copy__(self) -> _Spec:
        return self

    def __deepcopy__(self, memo: dict[int, object]) -> _Spec:
        return self

    @property
    def broadcasts(self) -> bool:
        """True if the spec was built from scalars and applies to any number of axes."""
        return self._broadcast

    def for_ndim(self: _S, ndim: int) -> _S:
        """The same spec on ``ndim`` axes (a broadcasting spec expands; others must match)."""
        if ndim == self.ndim:
            return self
        if not self._broadcast:
            raise SpecError(f"{self!r} has {self.ndim} axes but the input has {ndim} spatial axes")
        out = self._expand(ndim)
        assert isinstance(out, type(self))
        return out

    def _expand(self, ndim: int) -> _Spec:
        raise NotImplementedError

    def axes(self, input_size: Sequence[int] | None = None) -> tuple[Axis, ...]:
        """One :class:`Axis` per spatial axis with padding resolved (input size where needed)."""
        raise NotImplementedError

    @property
    def parameters_per_channel_pair(self) -> int:
        """Weights per (input channel, output channel) pair: the product of the kernel sizes."""
        return 0

    def describe(self) -> str:
        """A short label, e.g. ``conv k3 d2``, ``tconv k4 s2 p1``, ``maxpool k2 s2``."""
        raise NotImplementedError

    def __repr__(self) -> str:
        parts = []
        defaults = self._defaults()
        for name, values in self._fields().items():
            if name == "padding":
                values = tuple(p[0] if isinstance(p, tuple) and p[0] == p[1] else p for p in values)
            if name in defaults and all(v == defaults[name] for v in values):
                continue
            shown = (
                values[0]
                if self._broadcast or (len(set(values)) == 1 and name in ("mode", "ceil_mode", "transposed"))
                else values
            )
            parts.append(f"{name}={shown!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def _defaults(self) -> dict[str, object]:
        return {}


class ConvSpec(_Spec):
    """A convolution or transposed convolution, per axis (PyTorch's index conventions).

    Args:
        kernel_size: taps per axis, ``>= 1``.
        stride: ``>= 1``.
        padding: see the module docstring.
        dilation: spacing of the taps, ``>= 1``.
        transposed: a transposed (fractionally strided) convolution.
        output_padding: extra size on the high side of a transposed convolution's output,
            ``0 <= output_padding < max(stride, dilation)`` (PyTorch's rule).
        ndim: the number of spatial axes; inferred from the per-axis arguments if omitted.

    Raises:
        SpecError: naming the parameter, the value given and the valid range.

    Examples:
        >>> spec = ConvSpec(3, dilation=4)
        >>> spec.effective_kernel_size
        (9,)
        >>> ConvSpec((3, 3), padding=((1, 0), (2, 2)))
        ConvSpec(kernel_size=(3, 3), padding=((1, 0), 2))
    """

    __slots__ = ("dilation", "kernel_size", "output_padding", "padding", "stride", "transposed")
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[PadEntry, ...]
    dilation: tuple[int, ...]
    transposed: bool
    output_padding: tuple[int, ...]

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: PaddingLike = 0,
        dilation: int | Sequence[int] = 1,
        *,
        transposed: bool = False,
        output_padding: int | Sequence[int] = 0,
        ndim: int | None = None,
    ) -> None:
        n, broadcast = _infer_ndim(
            ndim,
            kernel_size=kernel_size,
            stride=stride,
            padding=padding,
            dilation=dilation,
            output_padding=output_padding,
        )
        if not isinstance(transposed, bool):
            raise SpecError(f"transposed must be True or False, got {transposed!r}")
        ks = per_axis("kernel_size", kernel_size, n, 1)
        st = per_axis("stride", stride, n, 1)
        dl = per_axis("dilation", dilation, n, 1)
        pad = normalise_padding(padding, n)
        op = per_axis("output_padding", output_padding, n, 0)
        if not transposed and any(op):
            raise SpecError(f"output_padding={output_padding!r} is only valid for a transposed convolution (use 0)")
        for i in range(n):
            if op[i] >= max(st[i], dl[i]):
                raise SpecError(
                    f"output_padding={op[i]} on axis {i} must be smaller than stride ({st[i]}) or dilation "
                    f"({dl[i]}): valid range [0, {max(st[i], dl[i]) - 1}]"
                )
            if transposed and pad[i] == "same" and op[i]:
                raise SpecError(
                    f"output_padding={op[i]} on axis {i} conflicts with padding='same', which chooses it (use 0)"
                )
        self.ndim = n
        self._broadcast = broadcast
        self.kernel_size = ks
        self.stride = st
        self.padding = pad
        self.dilation = dl
        self.transposed = transposed
        self.output_padding = op
        self._freeze()

    def _fields(self) -> dict[str, tuple[object, ...]]:
        return {
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "transposed": (self.transposed,) * self.ndim,
            "output_padding": self.output_padding,
        }

    def _init_kwargs(self) -> dict[str, object]:
        return {
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "transposed": self.transposed,
            "output_padding": self.output_padding,
        }

    def _defaults(self) -> dict[str, object]:
        return {"stride": 1, "padding": 0, "dilation": 1, "transposed": False, "output_padding": 0}

    def _expand(self, ndim: int) -> ConvSpec:
        return ConvSpec(
            self.kernel_size[0],
            self.stride[0],
            self.padding[0] if isinstance(self.padding[0], str) else (self.padding[0],) * ndim,
            self.dilation[0],
            transposed=self.transposed,
            output_padding=self.output_padding[0],
            ndim=ndim,
        )

    def replace(self, **changes: object) -> ConvSpec:
        """A copy with some arguments changed (validated again)."""
        args: dict[str, object] = {
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "transposed": self.transposed,
            "output_padding": self.output_padding,
            "ndim": self.ndim,
        }
        args.update(changes)
        return ConvSpec(**args)  # type: ignore[arg-type]

    def describe(self) -> str:
        parts = ["tconv" if self.transposed else "conv", "k" + _short(self.kernel_size)]
        if any(s != 1 for s in self.stride):
            parts.append("s" + _short(self.stride))
        if any(p != (0, 0) for p in self.padding):
            parts.append("p" + _short_pad(self.padding))
        if any(d != 1 for d in self.dilation):
            parts.append("d" + _short(self.dilation))
        if any(self.output_padding):
            parts.append("op" + _short(self.output_padding))
        return " ".join(parts)

    @property
    def effective_kernel_size(self) -> tuple[int, ...]:
        """``dilation * (kernel_size - 1) + 1`` per axis."""
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation, strict=True))

    @property
    def parameters_per_channel_pair(self) -> int:
        out = 1
        for k in self.kernel_size:
            out *= k
        return out

    @property
    def pads(self) -> tuple[tuple[int, int], ...]:
        """Explicit ``(lo, hi)`` per axis (call :meth:`resolve` first when a mode is used)."""
        for i, p in enumerate(self.padding):
            if isinstance(p, str):
                raise SpecError(f"padding[{i}]={p!r} is a mode: call resolve(input_size) first")
        return self.padding  # type: ignore[return-value]  # (lo, hi) tuples only, checked above

    @property
    def is_resolved(self) -> bool:
        """True if every axis has explicit ``(lo, hi)`` padding."""
        return not any(isinstance(p, str) for p in self.padding)

    def resolve(self, input_size: int | Sequence[int] | None = None) -> ConvSpec:
        """The same layer with every padding mode replaced by explicit ``(lo, hi)`` pairs.

        ``input_size`` is needed only for ``"same"`` on a convolution axis with stride > 1.
        """
        from atrous.geometry.shape import resolve_axis

        sizes = _sizes_for(self.ndim, input_size)
        pads: list[tuple[int, int]] = []
        ops: list[int] = []
        for i in range(self.ndim):
            lo, hi, op = resolve_axis(
                self.padding[i],
                self.kernel_size[i],
                self.stride[i],
                self.dilation[i],
                self.transposed,
                None if sizes is None else sizes[i],
                axis=i,
            )
            pads.append((lo, hi))
            ops.append(op if self.padding[i] == "same" else self.output_padding[i])
        return ConvSpec(
            self.kernel_size,
            self.stride,
            tuple(pads),
            self.dilation,
            transposed=self.transposed,
            output_padding=tuple(ops),
            ndim=self.ndim,
        )

    def axes(self, input_size: Sequence[int] | None = None) -> tuple[Axis, ...]:
        r = self.resolve(input_size)
        kind: AxisKind = "transposed" if self.transposed else "conv"
        return tuple(
            Axis(kind, r.kernel_size[i], r.stride[i], r.dilation[i], lo, hi, r.output_padding[i])
            for i, (lo, hi) in enumerate(r.pads)
        )


class PoolSpec(_Spec):
    """Max or average pooling, as PyTorch computes it.

    Args:
        kernel_size: window per axis, ``>= 1``.
        stride: defaults to ``kernel_size`` (PyTorch's default).
        padding: symmetric, at most ``kernel_size // 2`` (PyTorch's rule).
        dilation: max pooling only.
        mode: ``"max"`` or ``"avg"``.
        ceil_mode: round the output size up; the last window must still start inside the
            input or its left padding.

    Examples:
        >>> PoolSpec(2)
        PoolSpec(kernel_size=2, stride=2)
    """

    __slots__ = ("ceil_mode", "dilation", "kernel_size", "mode", "padding", "stride")
    kernel_size: tuple[int, ...]
    stride: tuple[int, ...]
    padding: tuple[int, ...]
    dilation: tuple[int, ...]
    mode: str
    ceil_mode: bool

    def __init__(
        self,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] | None = None,
        padding: int | Sequence[int] = 0,
        dilation: int | Sequence[int] = 1,
        *,
        mode: str = "max",
        ceil_mode: bool = False,
        ndim: int | None = None,
    ) -> None:
        if stride is None:
            stride = kernel_size
        n, broadcast = _infer_ndim(ndim, kernel_size=kernel_size, stride=stride, padding=padding, dilation=dilation)
        if mode not in ("max", "avg"):
            raise SpecError(f"mode must be 'max' or 'avg', got {mode!r}")
        if not isinstance(ceil_mode, bool):
            raise SpecError(f"ceil_mode must be True or False, got {ceil_mode!r}")
        ks = per_axis("kernel_size", kernel_size, n, 1)
        st = per_axis("stride", stride, n, 1)
        pd = per_axis("padding", padding, n, 0)
        dl = per_axis("dilation", dilation, n, 1)
        if mode == "avg" and any(d != 1 for d in dl):
            raise SpecError(f"dilation={dilation!r} is not supported by average pooling (use 1)")
        for i in range(n):
            if pd[i] > ks[i] // 2:
                raise SpecError(
                    f"padding={pd[i]} on axis {i} must be at most half the kernel size "
                    f"(kernel_size={ks[i]}): valid range [0, {ks[i] // 2}]"
                )
        self.ndim = n
        self._broadcast = broadcast
        self.kernel_size = ks
        self.stride = st
        self.padding = pd
        self.dilation = dl
        self.mode = mode
        self.ceil_mode = ceil_mode
        self._freeze()

    def _fields(self) -> dict[str, tuple[object, ...]]:
        return {
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "mode": (self.mode,) * self.ndim,
            "ceil_mode": (self.ceil_mode,) * self.ndim,
        }

    def _defaults(self) -> dict[str, object]:
        return {"padding": 0, "dilation": 1, "mode": "max", "ceil_mode": False}

    def _init_kwargs(self) -> dict[str, object]:
        return {
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "padding": self.padding,
            "dilation": self.dilation,
            "mode": self.mode,
            "ceil_mode": self.ceil_mode,
        }

    def _expand(self, ndim: int) -> PoolSpec:
        return PoolSpec(
            self.kernel_size[0],
            self.stride[0],
            self.padding[0],
            self.dilation[0],
            mode=self.mode,
            ceil_mode=self.ceil_mode,
            ndim=ndim,
        )

    @property
    def effective_kernel_size(self) -> tuple[int, ...]:
        return tuple(d * (k - 1) + 1 for k, d in zip(self.kernel_size, self.dilation, strict=True))

    def describe(self) -> str:
        parts = [f"{self.mode}pool", "k" + _short(self.kernel_size), "s" + _short(self.stride)]
        if any(self.padding):
            parts.append("p" + _short(self.padding))
        if any(d != 1 for d in self.dilation):
            parts.append("d" + _short(self.dilation))
        if self.ceil_mode:
            parts.append("ceil")
        return " ".join(parts)

    def axes(self, input_size: Sequence[int] | None = None) -> tuple[Axis, ...]:
        return tuple(
            Axis(
                "pool",
                self.kernel_size[i],
                self.stride[i],
                self.dilation[i],
                self.padding[i],
                self.padding[i],
                0,
                self.ceil_mode,
            )
            for i in range(self.ndim)
        )


class UpsampleSpec(_Spec):
    """Upsampling by an integer factor per axis: ``"nearest"``, or ``"linear"`` (linear,
    bilinear or trilinear interpolation with ``align_corners=False``, PyTorch's default).

    Output ``y`` of a nearest upsampling by ``r`` reads input ``y // r``; of a linear one, the
    two inputs around ``(y + 0.5) / r - 0.5`` (one where that lands on an input exactly).

    Examples:
        >>> UpsampleSpec(2)
        UpsampleSpec(scale_factor=2)
        >>> UpsampleSpec(2, mode="linear").describe()
        'up x2 linear'
    """

    __slots__ = ("mode", "scale_factor")
    scale_factor: tuple[int, ...]
    mode: str

    def __init__(self, scale_factor: int | Sequence[int], *, mode: str = "nearest", ndim: int | None = None) -> None:
        n, broadcast = _infer_ndim(ndim, scale_factor=scale_factor)
        if mode not in ("nearest", "linear"):
            raise SpecError(f"mode must be 'nearest' or 'linear' (align_corners=False), got {mode!r}")
        self.ndim = n
        self._broadcast = broadcast
        self.scale_factor = per_axis("scale_factor", scale_factor, n, 1)
        self.mode = mode
        self._freeze()

    def _fields(self) -> dict[str, tuple[object, ...]]:
        return {"scale_factor": self.scale_factor, "mode": (self.mode,) * self.ndim}

    def _defaults(self) -> dict[str, object]:
        return {"mode": "nearest"}

    def _init_kwargs(self) -> dict[str, object]:
        return {"scale_factor": self.scale_factor, "mode": self.mode}

    def describe(self) -> str:
        return f"up x{_short(self.scale_factor)}" + ("" if self.mode == "nearest" else " linear")

    def _expand(self, ndim: int) -> UpsampleSpec:
        return UpsampleSpec(self.scale_factor[0], mode=self.mode, ndim=ndim)

    def axes(self, input_size: Sequence[int] | None = None) -> tuple[Axis, ...]:
        if self.mode == "linear":
            return tuple(Axis("linear", 2, r) for r in self.scale_factor)
        return tuple(Axis("upsample", 1, r) for r in self.scale_factor)


LayerSpec = ConvSpec | PoolSpec | UpsampleSpec


def _rebuild(cls: type[_Spec], kwargs: dict[str, object]) -> _Spec:
    return cls(**kwargs)  # type: ignore[call-arg]


def _short(values: tuple[int, ...]) -> str:
    return str(values[0]) if len(set(values)) == 1 else "x".join(map(str, values))


def _short_pad(pads: tuple[PadEntry, ...]) -> str:
    if len(set(pads)) == 1:
        p = pads[0]
        return p if isinstance(p, str) else str(p[0]) if p[0] == p[1] else f"{p[0]}:{p[1]}"
    return "x".join(p if isinstance(p, str) else str(p[0]) if p[0] == p[1] else f"{p[0]}:{p[1]}" for p in pads)


# readers of other libraries' layers, registered from above (the core imports no tracer):
# (prefix of the layer type's module, "module:function" loaded on first use)
_SPEC_READERS: list[tuple[str, str]] = []


def register_spec_reader(prefix: str, reader: str) -> None:
    """Teach :func:`as_spec` the layers of another library: types whose module starts with
    ``prefix`` are read by ``reader`` (``"package.module:function"``, imported on first use).
    atrous registers ``torch.`` itself (``atrous.analysis.modules:spec_of_module``)."""
    if (prefix, reader) not in _SPEC_READERS:
        _SPEC_READERS.append((prefix, reader))


def as_spec(layer: object) -> LayerSpec:
    """Return the spec of ``layer``: a spec itself, an object with ``__atrous_spec__`` (a spec,
    or a method returning one) or ``.spec``, or a layer of a registered library (torch's)."""
    if isinstance(layer, (ConvSpec, PoolSpec, UpsampleSpec)):
        return layer
    declared = getattr(type(layer), "__atrous_spec__", None)
    if declared is not None:
        spec = declared(layer) if callable(declared) else declared
        if isinstance(spec, (ConvSpec, PoolSpec, UpsampleSpec)):
            return spec
        raise SpecError(
            f"{type(layer).__name__}.__atrous_spec__ must give a ConvSpec, PoolSpec or UpsampleSpec, got {spec!r}"
        )
    spec = getattr(layer, "spec", None)
    if isinstance(spec, (ConvSpec, PoolSpec, UpsampleSpec)):
        return spec
    module = type(layer).__module__
    for prefix, reader in _SPEC_READERS:
        if module.startswith(prefix):
            import importlib

            mod, _, fn = reader.partition(":")
            return getattr(importlib.import_module(mod), fn)(layer)  # type: ignore[no-any-return]
    raise SpecError(
        f"cannot read a layer spec from {type(layer).__name__}: pass a ConvSpec, PoolSpec, UpsampleSpec "
        "a torch layer, or an object with a .spec attribute (whole models: use atrous.analyze)"
    )


def _sizes_for(ndim: int, input_size: int | Sequence[int] | None) -> tuple[int, ...] | None:
    if input_size is None:
        return None
    if _is_seq(input_size):
        assert isinstance(input_size, Sequence)
        if len(input_size) != ndim:
            raise SpecError(f"input_size has {len(input_size)} entries {tuple(input_size)!r}, expected {ndim}")
        return tuple(check_int(f"input_size[{i}]", v, 1) for i, v in enumerate(input_size))
    return (check_int("input_size", input_size, 1),) * ndim
