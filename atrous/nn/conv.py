"""Convolution layers: ``Conv1d/2d/3d``, ``ConvTranspose1d/2d/3d`` and ``CausalConv1d``.

They hold the same parameters as ``torch.nn.Conv*`` (``weight``, ``bias``; same shapes and
initialisation), so a torch layer's ``state_dict`` loads into them and back. What they add:
every padding form of :class:`atrous.ConvSpec` (asymmetric pairs, ``"same"`` with any stride
and dilation, ``"causal"``, ``"full"``) with every padding mode, ``output_size`` for
transposed layers chosen by the geometry core, a ``spec`` and a ``receptive_field``.

Examples:
    >>> import torch
    >>> layer = Conv1d(2, 4, 3, dilation=4, padding="same")
    >>> layer
    Conv1d(2, 4, kernel_size=(3,), padding=same, dilation=(4,), effective_kernel=(9,), receptive_field=9)
    >>> layer(torch.randn(1, 2, 20)).shape
    torch.Size([1, 4, 20])
    >>> layer.load_state_dict(torch.nn.Conv1d(2, 4, 3).state_dict())
    <All keys matched successfully>
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from atrous import functional as AF
from atrous.errors import SpecError
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
    return any(p == "same" and s > 1 and not spec.transposed for p, s in zip(spec.padding, spec.stride))


class _ConvBase(nn.Module):
    """Shared by the direct and transposed layers: parameters, init, spec, repr."""

    transposed: bool = False
    ndim: int = 0

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int] = 1,
        padding: object = 0,
        dilation: int | Sequence[int] = 1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        output_padding: int | Sequence[int] = 0,
        device: Any = None,
        dtype: Any = None,
    ) -> None:
        super().__init__()
        self.in_channels = check_int("in_channels", in_channels, 1)
        self.out_channels = check_int("out_channels", out_channels, 1)
        self.groups = check_int("groups", groups, 1)
        if self.in_channels % self.groups:
            raise SpecError(f"in_channels={in_channels} must be divisible by groups={groups}")
        if self.out_channels % self.groups:
            raise SpecError(f"out_channels={out_channels} must be divisible by groups={groups}")
        if padding_mode not in AF.PADDING_MODES_TORCH:
            raise SpecError(f"padding_mode must be one of {', '.join(AF.PADDING_MODES_TORCH)}, got {padding_mode!r}")
        if self.transposed and padding_mode != "zeros":
            raise SpecError(f"padding_mode={padding_mode!r} is not defined for a transposed convolution (use 'zeros')")
        spec = ConvSpec(
            kernel_size,
            stride,
            padding,
            dilation,
            transposed=self.transposed,
            output_padding=output_padding,
            ndim=self.ndim,
        )
        self.spec = spec
        # padding that does not depend on the input size is resolved once, here
        self._static: ConvSpec | None = None if _needs_size(spec) else spec.resolve()
        self._min_size = () if self._static is None else tuple(min_input_size(a) for a in self._static.axes())
        self.kernel_size = spec.kernel_size
        self.stride = spec.stride
        self.dilation = spec.dilation
        self.padding = padding if isinstance(padding, str) else spec.padding
        self.output_padding = spec.output_padding
        self.padding_mode = padding_mode
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

    def reset_parameters(self) -> None:
        """PyTorch's initialisation of ``nn.Conv*`` (Kaiming-uniform with ``a = sqrt(5)``)."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = nn.init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            nn.init.uniform_(self.bias, -bound, bound)

    @property
    def effective_kernel_size(self) -> tuple[int, ...]:
        return self.spec.effective_kernel_size

    @property
    def receptive_field(self) -> int | tuple[int, ...]:
        """Receptive field of one output of this layer alone (per axis; an int for 1-d)."""
        # the size does not depend on padding (only the start does), so an input-size-dependent
        # 'same' padding is left out here
        spec = self.spec.replace(padding=0) if self._static is None else self.spec
        return receptive_field([spec])[0].size

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
        if any(v != 1 for v in self.stride):
            s += f", stride={self.stride}"
        if self.spec.padding != ((0, 0),) * self.ndim:
            s += f", padding={_padding_text(self.spec)}"
        if any(self.output_padding):
            s += f", output_padding={self.output_padding}"
        if any(v != 1 for v in self.dilation):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode!r}"
        s += f", effective_kernel={self.effective_kernel_size}, receptive_field={self.receptive_field}"
        return s


class ConvNd(_ConvBase):
    """N-d convolution with every padding form; see the module docstring.

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
        if self._static is None or x.dim() != self.ndim + 2:
            return AF.conv(
                x, self.weight, self.bias, self.stride, self.spec.padding, self.dilation, self.groups, self.padding_mode
            )
        if any(n < m for n, m in zip(x.shape[2:], self._min_size)):
            layer_output_size(self._static, tuple(x.shape[2:]))  # raises the SpecError that says why
        return AF.apply_conv(x, self.weight, self.bias, self._static, self.groups, self.padding_mode)


class ConvTransposeNd(_ConvBase):
    """N-d transposed convolution: asymmetric padding, padding modes as the adjoint of the
    convolution (``"same"`` gives ``input * stride``), and ``forward(x, output_size=...)``.

    Args:
        output_padding: ``0 <= output_padding < max(stride, dilation)``.
    """

    transposed = True

    def forward(self, x: Tensor, output_size: Sequence[int] | int | None = None) -> Tensor:
        if output_size is None and self._static is not None and x.dim() == self.ndim + 2:
            if any(n < m for n, m in zip(x.shape[2:], self._min_size)):
                layer_output_size(self._static, tuple(x.shape[2:]))
            return AF.apply_conv_transpose(x, self.weight, self.bias, self._static, self.groups)
        return AF.conv_transpose(
            x,
            self.weight,
            self.bias,
            self.stride,
            self.spec.padding,
            self.output_padding,
            self.groups,
            self.dilation,
            output_size,
        )


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
        return self.spec.resolve().pads[0][0]
