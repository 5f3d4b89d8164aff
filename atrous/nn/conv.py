"""Convolution layers: ``Conv1d/2d/3d``, ``ConvTranspose1d/2d/3d`` and ``CausalConv1d``.

They hold the same parameters as ``torch.nn.Conv*`` (``weight``, ``bias``; same shapes and
initialisation), so a torch layer's ``state_dict`` loads into them and back. What they add:
every padding form of :class:`atrous.ConvSpec` (asymmetric pairs, ``"same"`` with any stride
and dilation, ``"causal"``, ``"full"``) with every padding mode, ``output_size`` for
transposed layers chosen by the geometry core, a ``spec`` and a ``receptive_field``.

As in ``torch.nn``, the attributes are the truth: assigning ``stride``, ``padding``,
``dilation``, ``output_padding``, ``padding_mode``, ``groups``, ``weight`` or ``bias`` changes
what ``forward`` computes (each assignment is checked and the layer's spec follows it);
``kernel_size`` follows the weight and cannot be assigned. ``torch.jit.script`` compiles the
layers as PyTorch's own call with the resolved padding (not for ``padding="same"`` with a
stride > 1, whose padding depends on the input size, nor transposed layers' ``output_size``);
``torch.jit.trace``, ``torch.compile`` and ONNX export see the layers as they are.

Examples:
    >>> import torch
    >>> from atrous.nn import Conv1d
    >>> layer = Conv1d(2, 4, 3, dilation=4, padding="same")
    >>> layer
    Conv1d(2, 4, kernel_size=(3,), padding=same, dilation=(4,), effective_kernel=(9,), receptive_field=9)
    >>> layer(torch.randn(1, 2, 20)).shape
    torch.Size([1, 4, 20])
    >>> layer.load_state_dict(torch.nn.Conv1d(2, 4, 3).state_dict())
    <All keys matched successfully>
    >>> layer.dilation = 2
    >>> layer.receptive_field
    5
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from atrous import functional as AF
from atrous._fast.calls import flat_pad, native_padding, transposed_call
from atrous.errors import SpecError
from atrous.functional import PaddingLike
from atrous.geometry import ConvSpec, layer_output_size, min_input_size, receptive_field
from atrous.geometry.spec import check_int

__all__ = [
    "CausalConv1d",
    "Conv1d",
    "Conv2d",
    "Conv3d",
    "ConvNd",
    "ConvTranspose1d",
    "ConvTranspose2d",
    "ConvTranspose3d",
    "ConvTransposeNd",
]


def _padding_text(spec: ConvSpec) -> str:
    pads = spec.padding
    if len(set(pads)) == 1 and isinstance(pads[0], str):
        return pads[0]
    if all(isinstance(p, tuple) and p[0] == p[1] for p in pads):
        return str(tuple(p[0] for p in pads))  # type: ignore[index]
    return str(pads)


def _needs_size(spec: ConvSpec) -> bool:
    return any(p == "same" and s > 1 and not spec.transposed for p, s in zip(spec.padding, spec.stride, strict=True))


class _ConvNd(nn.Module):
    """The N-d base of every atrous convolution layer: parameters, init, the spec and the
    attributes over it, repr, and the module TorchScript compiles."""

    transposed: bool = False
    ndim: int = 0

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: PaddingLike = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        output_padding: int | Sequence[int] = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        if type(self).ndim < 1:
            name = type(self).__name__
            kind = "ConvTranspose" if self.transposed else "Conv"
            raise TypeError(
                f"{name} is the N-d base class of the atrous {kind} layers and cannot be built itself: "
                f"use {kind}1d, {kind}2d or {kind}3d"
            )
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, 1)
        self.out_channels = check_int("out_channels", out_channels, 1)
        self.groups = check_int("groups", groups, 1)
        if self.in_channels % self.groups:
            raise SpecError(f"in_channels={in_channels} must be divisible by groups={groups}")
        if self.out_channels % self.groups:
            raise SpecError(f"out_channels={out_channels} must be divisible by groups={groups}")
        self._padding_mode = self._checked_mode(padding_mode)
        self._padding_str = isinstance(padding, str)
        self._use(
            ConvSpec(
                kernel_size,
                stride,
                padding,
                dilation,
                transposed=self.transposed,
                output_padding=output_padding,
                ndim=self.ndim,
            )
        )
        spec = self._spec
        factory = {"device": device, "dtype": dtype}
        if self.transposed:
            shape = (self.in_channels, self.out_channels // self.groups, *spec.kernel_size)
        else:
            shape = (self.out_channels, self.in_channels // self.groups, *spec.kernel_size)
        self.weight = nn.Parameter(torch.empty(shape, **factory))
        self.bias: nn.Parameter | None
        if bias:
            self.bias = nn.Parameter(torch.empty(self.out_channels, **factory))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    # ---- the one source: the declared spec (and the padding mode); the rest is derived from it

    def _use(self, spec: ConvSpec) -> None:
        """Make ``spec`` the layer's (checked already) and derive what ``forward`` reads."""
        # padding that does not depend on the input size is resolved once, here
        static = None if _needs_size(spec) else spec.resolve()
        self._spec = spec
        self._static = static
        self._min_size = () if static is None else tuple(min_input_size(a) for a in static.axes())

    def _checked_mode(self, padding_mode: str) -> str:
        if padding_mode not in AF.PADDING_MODES_TORCH:
            raise SpecError(f"padding_mode must be one of {', '.join(AF.PADDING_MODES_TORCH)}, got {padding_mode!r}")
        if self.transposed and padding_mode != "zeros":
            raise SpecError(f"padding_mode={padding_mode!r} is not defined for a transposed convolution (use 'zeros')")
        return padding_mode

    def _change(self, **changes: object) -> None:
        self._use(self._spec.replace(**changes))

    @property
    def spec(self) -> ConvSpec:
        """The layer's :class:`ConvSpec` (padding as declared: a mode stays a mode)."""
        return self._spec

    @property
    def kernel_size(self) -> tuple[int, ...]:
        return self._spec.kernel_size

    @kernel_size.setter
    def kernel_size(self, value: object) -> None:
        raise SpecError(
            f"kernel_size cannot be assigned (got {value!r}): it follows the weight's shape "
            f"{tuple(self.weight.shape)}; build a new layer for another kernel size"
        )

    @property
    def stride(self) -> tuple[int, ...]:
        return self._spec.stride

    @stride.setter
    def stride(self, value: int | Sequence[int]) -> None:
        self._change(stride=value)

    @property
    def dilation(self) -> tuple[int, ...]:
        return self._spec.dilation

    @dilation.setter
    def dilation(self, value: int | Sequence[int]) -> None:
        self._change(dilation=value)

    @property
    def padding(self) -> Any:
        """The padding: a mode name where one was given, else one ``(lo, hi)`` pair (or mode) per axis."""
        padding = self._spec.padding
        return padding[0] if self._padding_str else padding

    @padding.setter
    def padding(self, value: PaddingLike) -> None:
        self._change(padding=value)
        self._padding_str = isinstance(value, str)

    @property
    def output_padding(self) -> tuple[int, ...]:
        return self._spec.output_padding

    @output_padding.setter
    def output_padding(self, value: int | Sequence[int]) -> None:
        self._change(output_padding=value)

    @property
    def padding_mode(self) -> str:
        return self._padding_mode

    @padding_mode.setter
    def padding_mode(self, value: str) -> None:
        self._padding_mode = self._checked_mode(value)

    # ----

    def reset_parameters(self) -> None:
        """PyTorch's initialisation of ``nn.Conv*`` (Kaiming-uniform with ``a = sqrt(5)``)."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = nn.init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            nn.init.uniform_(self.bias, -bound, bound)

    @property
    def effective_kernel_size(self) -> tuple[int, ...]:
        return self._spec.effective_kernel_size

    @property
    def receptive_field(self) -> int | tuple[int, ...]:
        """Receptive field of one output of this layer alone (per axis; an int for 1-d)."""
        # the size does not depend on padding (only the start does), so an input-size-dependent
        # 'same' padding is left out here
        spec = self._spec.replace(padding=0) if self._static is None else self._spec
        return receptive_field([spec])[0].size

    def extra_repr(self) -> str:
        spec = self._spec
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={spec.kernel_size}"
        if any(v != 1 for v in spec.stride):
            s += f", stride={spec.stride}"
        if spec.padding != ((0, 0),) * self.ndim:
            s += f", padding={_padding_text(spec)}"
        if any(spec.output_padding):
            s += f", output_padding={spec.output_padding}"
        if any(v != 1 for v in spec.dilation):
            s += f", dilation={spec.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self._padding_mode != "zeros":
            s += f", padding_mode={self._padding_mode!r}"
        s += f", effective_kernel={self.effective_kernel_size}, receptive_field={self.receptive_field}"
        return s

    def _static_for_script(self) -> ConvSpec:
        if self._static is None:
            raise SpecError(
                f"{type(self).__name__} with padding={self.padding!r} and stride={self.stride} pads by an amount "
                "that depends on the input size, which a TorchScript module cannot ask atrous.geometry for: "
                "use torch.jit.trace or torch.compile, or give the padding explicitly"
            )
        return self._static

    def __prepare_scriptable__(self) -> nn.Module:
        """What ``torch.jit.script`` compiles: PyTorch's own call with this layer's resolved
        padding, sharing the layer's parameters (:class:`_ScriptedConv`)."""
        return _ScriptedConv(self)


#: the base's former name (``atrous.analysis.trace`` recognises atrous layers by it)
_ConvBase = _ConvNd


class ConvNd(_ConvNd):
    """N-d convolution with every padding form (the base of :class:`Conv1d`, :class:`Conv2d`
    and :class:`Conv3d`, for ``isinstance`` checks; it is not built itself).

    Args:
        in_channels, out_channels, kernel_size, stride, dilation, groups, bias: as ``torch.nn.Conv2d``.
        padding: int, per-axis ints, per-axis ``(lo, hi)`` pairs, or ``"valid" | "same" |
            "causal" | "full"`` (``"same"`` with any stride and dilation).
        padding_mode: ``"zeros"``, ``"reflect"``, ``"replicate"`` or ``"circular"``.

    Shape:
        Input ``(N, C_in, *spatial)`` or ``(C_in, *spatial)``; output as
        :func:`atrous.output_size` computes it.
    """

    def forward(self, x: Tensor) -> Tensor:
        static = self._static
        if static is None or x.dim() != self.ndim + 2:
            spec = self._spec
            return AF.conv(
                x, self.weight, self.bias, spec.stride, spec.padding, spec.dilation, self.groups, self._padding_mode
            )
        if any(n < m for n, m in zip(x.shape[2:], self._min_size, strict=True)):
            layer_output_size(static, tuple(x.shape[2:]))  # raises the SpecError that says why
        return AF.apply_conv(x, self.weight, self.bias, static, self.groups, self._padding_mode)


class ConvTransposeNd(_ConvNd):
    """N-d transposed convolution: asymmetric padding, padding modes as the adjoint of the
    convolution (``"same"`` gives ``input * stride``), and ``forward(x, output_size=...)`` (the
    base of :class:`ConvTranspose1d`, :class:`ConvTranspose2d` and :class:`ConvTranspose3d`).

    Args:
        output_padding: ``0 <= output_padding < max(stride, dilation)``.
    """

    transposed = True

    def forward(self, x: Tensor, output_size: Sequence[int] | int | None = None) -> Tensor:
        static = self._static
        if output_size is None and static is not None and x.dim() == self.ndim + 2:
            if any(n < m for n, m in zip(x.shape[2:], self._min_size, strict=True)):
                layer_output_size(static, tuple(x.shape[2:]))
            return AF.apply_conv_transpose(x, self.weight, self.bias, static, self.groups)
        spec = self._spec
        return AF.conv_transpose(
            x,
            self.weight,
            self.bias,
            spec.stride,
            spec.padding,
            spec.output_padding,
            self.groups,
            spec.dilation,
            output_size,
        )

    def __prepare_scriptable__(self) -> nn.Module:
        return _ScriptedConvTranspose(self)


class Conv1d(ConvNd):
    ndim = 1


class Conv2d(ConvNd):
    ndim = 2


class Conv3d(ConvNd):
    ndim = 3


class ConvTranspose1d(ConvTransposeNd):
    ndim = 1


class ConvTranspose2d(ConvTransposeNd):
    ndim = 2


class ConvTranspose3d(ConvTransposeNd):
    ndim = 3


class CausalConv1d(Conv1d):
    """1-d convolution that sees only the present and the past: padding ``(d*(k-1), 0)``.

    Output ``t`` depends on inputs ``t - d*(k-1), ..., t`` (stride 1). This is the layer the
    TCN and WaveNet stacks and :func:`atrous.stream` are built on.

    Examples:
        >>> import torch
        >>> from atrous.nn import CausalConv1d
        >>> c = CausalConv1d(1, 1, 2, dilation=4)
        >>> c(torch.randn(1, 1, 10)).shape
        torch.Size([1, 1, 10])
        >>> c.receptive_field
        5
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__(
            in_channels,
            out_channels,
            kernel_size,
            1,
            "causal",
            dilation,
            groups,
            bias,
            padding_mode,
            device=device,
            dtype=dtype,
        )

    @property
    def context(self) -> int:
        """Past samples each output needs besides the present one: ``d * (k - 1)``."""
        return self._spec.resolve().pads[0][0]


# --------------------------------------------------------------------------- TorchScript


class _ScriptedConv(nn.Module):
    """What ``torch.jit.script`` compiles for an atrous convolution layer: PyTorch's own call
    (``torch.convolution``) with the layer's resolved padding, after a padding copy where the
    padding is asymmetric or its mode is not ``zeros`` (the arguments from
    :mod:`atrous._fast.calls`, as the native route passes them). It shares the layer's
    parameters; the layer's attributes are read when the module is scripted."""

    # (TorchScript reads the attributes' types here: objects, not the module's string annotations)
    __annotations__ = {
        "pre": list[int], "pre_mode": str, "stride": list[int], "padding": list[int], "dilation": list[int],
        "output_padding": list[int], "groups": int, "spatial": int,
    }  # fmt: skip

    def __init__(self, layer: _ConvNd) -> None:
        super().__init__()
        static = layer._static_for_script()
        self.weight = layer.weight
        self.bias: nn.Parameter | None = layer.bias  # (registered as a parameter where it is one)
        nd = layer.ndim
        mode = layer.padding_mode
        if mode != "zeros" and any(lo or hi for lo, hi in static.pads):
            self.pre, self.pre_mode, self.padding = flat_pad(static.pads), mode, [0] * nd
        else:
            padding, flat = native_padding(static.pads)
            self.pre, self.pre_mode, self.padding = list(flat or []), "constant", list(padding)
        self.stride = list(static.stride)
        self.dilation = list(static.dilation)
        self.output_padding = [0] * nd
        self.groups = layer.groups
        self.spatial = nd

    def forward(self, x: Tensor) -> Tensor:
        unbatched = x.dim() == self.spatial + 1
        if unbatched:
            x = x.unsqueeze(0)
        if len(self.pre) > 0:
            x = F.pad(x, self.pre, mode=self.pre_mode)
        y = torch.convolution(
            x,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            False,
            self.output_padding,
            self.groups,
        )
        return y.squeeze(0) if unbatched else y


class _ScriptedConvTranspose(nn.Module):
    """What ``torch.jit.script`` compiles for an atrous transposed layer: PyTorch's transposed
    call, an asymmetric padding by cropping (:func:`atrous._fast.calls.transposed_call`)."""

    __annotations__ = {
        "stride": list[int], "padding": list[int], "dilation": list[int], "output_padding": list[int],
        "crop_lo": list[int], "crop_hi": list[int], "groups": int, "spatial": int,
    }  # fmt: skip

    def __init__(self, layer: _ConvNd) -> None:
        super().__init__()
        static = layer._static_for_script()
        self.weight = layer.weight
        self.bias: nn.Parameter | None = layer.bias  # (registered as a parameter where it is one)
        nd = layer.ndim
        padding, op, crop = transposed_call(static.pads, static.output_padding)
        self.padding, self.output_padding = list(padding), list(op)
        self.crop_lo = [0] * nd if crop is None else [lo for lo, _ in static.pads]
        self.crop_hi = [0] * nd if crop is None else list(crop)
        self.stride = list(static.stride)
        self.dilation = list(static.dilation)
        self.groups = layer.groups
        self.spatial = nd

    def forward(self, x: Tensor, output_size: list[int] | None = None) -> Tensor:
        if output_size is not None:
            raise RuntimeError(
                "atrous: output_size is not available in a TorchScript module (it needs atrous.geometry): "
                "give output_padding to the layer, or use torch.jit.trace"
            )
        unbatched = x.dim() == self.spatial + 1
        if unbatched:
            x = x.unsqueeze(0)
        y = torch.convolution(
            x,
            self.weight,
            self.bias,
            self.stride,
            self.padding,
            self.dilation,
            True,
            self.output_padding,
            self.groups,
        )
        for i in range(self.spatial):
            lo = self.crop_lo[i]
            hi = self.crop_hi[i]
            if lo > 0 or hi > 0:
                y = y.narrow(2 + i, lo, y.size(2 + i) - lo - hi)
        return y.squeeze(0) if unbatched else y
