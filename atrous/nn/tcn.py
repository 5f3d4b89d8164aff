"""Temporal convolutional network (Bai, Kolter & Koltun 2018).

"An Empirical Evaluation of Generic Convolutional and Recurrent Networks for Sequence
Modeling": residual blocks of two causal dilated convolutions with weight normalisation,
ReLU and dropout, a 1x1 convolution on the residual path when the widths differ, dilations
``2^i`` for block ``i``. The receptive field is ``1 + 2 (k-1) (2^n - 1)`` for ``n`` blocks.

Examples:
    >>> import torch
    >>> tcn = TCN(2, [24] * 8, kernel_size=8)
    >>> tcn.receptive_field
    3571
    >>> tcn(torch.randn(4, 2, 600)).shape
    torch.Size([4, 24, 600])
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import cast

import torch
from torch import Tensor, nn

from atrous.errors import SpecError
from atrous.geometry import ConvSpec, Field, stack_receptive_field
from atrous.geometry.dilation import _int_list, dilation_schedule
from atrous.geometry.field import residual_field
from atrous.geometry.spec import check_int
from atrous.nn.conv import CausalConv1d, Conv1d

__all__ = ["TCN", "TemporalBlock", "dilation_schedule", "residual_field"]


def _check_activation(activation: object) -> None:
    if not callable(activation):
        raise SpecError(f"activation must be a factory of modules (e.g. nn.ReLU), got {activation!r}")


def _check_dropout(dropout: object) -> float:
    if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0.0 <= dropout < 1.0:
        raise SpecError(f"dropout must be in [0, 1) (a probability), got {dropout!r}")
    return float(dropout)


def _weight_norm(module: nn.Module) -> nn.Module:
    wrapped: nn.Module = torch.nn.utils.parametrizations.weight_norm(module)
    return wrapped


class TemporalBlock(nn.Module):
    """One residual block of a TCN: two causal dilated convs, each followed by the activation
    and dropout, plus the shortcut (a 1x1 conv when ``in_channels != out_channels``)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        dilation: int,
        dropout: float = 0.2,
        weight_norm: bool = True,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        dropout = _check_dropout(dropout)
        _check_activation(activation)
        self.conv1 = CausalConv1d(in_channels, out_channels, kernel_size, dilation)
        self.conv2 = CausalConv1d(out_channels, out_channels, kernel_size, dilation)
        self.act1 = activation()
        self.act2 = activation()
        self.drop1 = nn.Dropout(dropout)
        self.drop2 = nn.Dropout(dropout)
        self.downsample = Conv1d(in_channels, out_channels, 1) if in_channels != out_channels else None
        self.act_out = activation()
        self._init_weights()
        if weight_norm:
            _weight_norm(self.conv1)
            _weight_norm(self.conv2)

    def _init_weights(self) -> None:
        # What the paper's runs had: its code draws N(0, 0.01) into the weight-normalised convs
        # *after* weight_norm, where the hook overwrites it (locuslab/TCN issue 1), so those keep
        # PyTorch's default initialisation; only the 1x1 shortcut gets N(0, 0.01). Drawing
        # N(0, 0.01) into the convs for real shrinks g = |v| and stalls training (copy memory
        # stayed at the guessing level for 4,680 batches; see docs/RESULTS.md).
        if self.downsample is not None:
            nn.init.normal_(self.downsample.weight, 0.0, 0.01)

    def forward(self, x: Tensor) -> Tensor:
        out = self.drop1(self.act1(self.conv1(x)))
        out = self.drop2(self.act2(self.conv2(out)))
        res = x if self.downsample is None else self.downsample(x)
        y: Tensor = self.act_out(out + res)
        return y

    @property
    def main_specs(self) -> tuple[ConvSpec, ConvSpec]:
        return self.conv1.spec, self.conv2.spec

    @property
    def skip_specs(self) -> tuple[ConvSpec, ...]:
        return () if self.downsample is None else (self.downsample.spec,)

    def field(self, field: Field | None = None) -> Field:
        """The receptive field after this block, given the field of its input."""
        return residual_field(field or Field.identity(), self.main_specs, self.skip_specs)


class TCN(nn.Module):
    """Temporal convolutional network (Bai et al. 2018).

    Args:
        in_channels: input features per time step.
        channels: output width of each residual block (its length is the number of blocks).
        kernel_size: taps of every causal conv.
        dropout: after each conv's activation.
        dilations: ``"exponential"`` (``2^i``), ``"reset:N"`` or one int per block.
        weight_norm: weight normalisation of the causal convs
            (``torch.nn.utils.parametrizations.weight_norm``).
        skip_connections: also sum 1x1 projections of every block's output (to
            ``channels[-1]``) into the output, as WaveNet does.
        activation: a factory of the activation module (default ``nn.ReLU``).

    Initialisation: PyTorch's default for the causal convs and N(0, 0.01) for the 1x1
    shortcuts, which is what the paper's runs had (its code's N(0, 0.01) for the convs is
    overwritten by weight normalisation; drawing it for real stalls training).

    Shape:
        ``(N, in_channels, T) -> (N, channels[-1], T)``; output ``t`` sees inputs ``<= t``.

    Examples:
        >>> TCN(1, [8, 8, 8], kernel_size=3).receptive_field
        29
    """

    def __init__(
        self,
        in_channels: int,
        channels: Sequence[int],
        kernel_size: int = 2,
        dropout: float = 0.2,
        dilations: str | Sequence[int] = "exponential",
        weight_norm: bool = True,
        skip_connections: bool = False,
        activation: Callable[[], nn.Module] = nn.ReLU,
    ) -> None:
        super().__init__()
        widths = [check_int(f"channels[{i}]", c, 1) for i, c in enumerate(_int_list(channels, "channels"))]
        if not widths:
            raise SpecError("channels must list at least one block width, got []")
        check_int("kernel_size", kernel_size, 1)
        _check_dropout(dropout)
        _check_activation(activation)
        self.dilations = dilation_schedule(dilations, len(widths))
        self.kernel_size = kernel_size
        blocks = []
        c_in = check_int("in_channels", in_channels, 1)
        for width, d in zip(widths, self.dilations, strict=True):
            blocks.append(TemporalBlock(c_in, width, kernel_size, d, dropout, weight_norm, activation))
            c_in = width
        self.blocks = nn.ModuleList(blocks)
        self.skips: nn.ModuleList | None = None
        if skip_connections:
            self.skips = nn.ModuleList(Conv1d(w, widths[-1], 1) for w in widths)
        self.out_channels = widths[-1]

    def forward(self, x: Tensor) -> Tensor:
        if self.skips is None:
            for block in self.blocks:
                x = block(x)
            return x
        total: Tensor | None = None
        for block, skip in zip(self.blocks, self.skips, strict=True):
            x = block(x)
            s = skip(x)
            total = s if total is None else total + s
        assert total is not None
        return total

    def field(self, input_size: int | None = None) -> Field:
        """The exact receptive field of the output (through every residual merge)."""
        f = Field.identity(input_size)
        outs = []
        for block in self.blocks:
            f = cast(TemporalBlock, block).field(f)
            outs.append(f)
        if self.skips is not None:
            merged = Field.union(outs, [f"block{i}" for i in range(len(outs))])
            assert merged.field is not None
            return merged.field
        return f

    @property
    def receptive_field(self) -> int:
        """Receptive field of one output, ``1 + 2 (k-1) sum(dilations)``.

        Two causal convolutions of dilation ``d`` per block, every shortcut and skip ending at
        the same time step: the size of a stride-1 stack with each rate twice (arithmetic, so
        that it stays instant for any depth; :meth:`field` gives the exact tap sets).
        """
        return stack_receptive_field([d for d in self.dilations for _ in range(2)], self.kernel_size)

    def extra_repr(self) -> str:
        return f"dilations={self.dilations}, receptive_field={self.receptive_field}"
