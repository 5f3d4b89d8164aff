"""WaveNet (van den Oord et al. 2016, "WaveNet: A Generative Model for Raw Audio").

A stack of gated, dilated causal convolutions: each layer computes
``z = tanh(W_f * x + V_f c + U_f g) * sigmoid(W_g * x + V_g c + U_g g)`` with a causal
convolution of kernel 2 (by default) and dilation ``d``, then a 1x1 residual convolution
added to its input and a 1x1 skip convolution summed over all layers. Dilations run in cycles
``1, 2, ..., 2^(L-1)``; each cycle has a receptive field of ``2^L`` (1024 for ``L = 10``).
``c`` is local conditioning (a feature sequence at the same rate as the audio, e.g.
upsampled mel frames), ``g`` is global conditioning (one vector per sequence, e.g. a speaker
embedding).

Examples:
    >>> import torch
    >>> net = WaveNet(in_channels=1, out_channels=256, residual_channels=16, layers_per_cycle=10, cycles=3)
    >>> net.receptive_field
    3070
    >>> net(torch.randn(2, 1, 100)).shape
    torch.Size([2, 256, 100])
"""

from __future__ import annotations

from typing import cast

import torch
from torch import Tensor, nn

from atrous.errors import SpecError
from atrous.geometry import Field, stack_receptive_field, wavenet_schedule
from atrous.geometry.spec import check_int
from atrous.nn.conv import CausalConv1d, Conv1d
from atrous.nn.tcn import residual_field

__all__ = ["WaveNet", "WaveNetLayer"]


class WaveNetLayer(nn.Module):
    """One gated residual layer: dilated causal conv to ``2 * gate_channels``, the gate, and
    the residual and skip 1x1 convolutions.

    ``forward(x, c=None, g=None)`` returns ``(x + residual, skip)``.
    """

    def __init__(
        self,
        residual_channels: int,
        gate_channels: int,
        skip_channels: int,
        kernel_size: int = 2,
        dilation: int = 1,
        cond_channels: int = 0,
        global_cond_channels: int = 0,
    ) -> None:
        super().__init__()
        self.gate_channels = check_int("gate_channels", gate_channels, 1)
        check_int("residual_channels", residual_channels, 1)
        check_int("skip_channels", skip_channels, 1)
        check_int("cond_channels", cond_channels, 0)
        check_int("global_cond_channels", global_cond_channels, 0)
        self.conv = CausalConv1d(residual_channels, 2 * gate_channels, kernel_size, dilation)
        self.cond = Conv1d(cond_channels, 2 * gate_channels, 1, bias=False) if cond_channels else None
        self.global_cond = (
            Conv1d(global_cond_channels, 2 * gate_channels, 1, bias=False) if global_cond_channels else None
        )
        self.residual = Conv1d(gate_channels, residual_channels, 1)
        self.skip = Conv1d(gate_channels, skip_channels, 1)

    def gate(self, h: Tensor, c: Tensor | None = None, g: Tensor | None = None) -> Tensor:
        """The gated activation of pre-activations ``h`` plus conditioning."""
        if self.cond is not None:
            if c is None:
                raise SpecError("this WaveNet has local conditioning: pass c of shape (N, cond_channels, T)")
            h = h + self.cond(c)
        if self.global_cond is not None:
            if g is None:
                raise SpecError("this WaveNet has global conditioning: pass g of shape (N, global_cond_channels)")
            h = h + self.global_cond(g.unsqueeze(-1))
        f, s = torch.split(h, self.gate_channels, dim=1)
        return f.tanh() * s.sigmoid()

    def forward(self, x: Tensor, c: Tensor | None = None, g: Tensor | None = None) -> tuple[Tensor, Tensor]:
        z = self.gate(self.conv(x), c, g)
        return x + self.residual(z), self.skip(z)

    def field(self, field: Field) -> Field:
        """Field of the residual output given the field of ``x``."""
        return residual_field(field, (self.conv.spec, self.residual.spec))


class WaveNet(nn.Module):
    """The WaveNet stack.

    Args:
        in_channels: input channels (1 for a waveform, ``quantization`` for one-hot input).
        out_channels: output channels (e.g. 256 logits of mu-law samples).
        residual_channels, gate_channels, skip_channels: widths (gate and skip default to
            ``residual_channels``).
        kernel_size: taps of the dilated causal convolutions (2 in the paper).
        layers_per_cycle, cycles: dilations ``1..2^(L-1)`` repeated ``cycles`` times.
        cond_channels: local conditioning channels (0: none).
        global_cond_channels: global conditioning channels (0: none).

    Shape:
        ``x (N, in_channels, T)``, ``c (N, cond_channels, T)``, ``g (N, global_cond_channels)``
        ``-> (N, out_channels, T)``; output ``t`` sees inputs ``<= t``.
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 256,
        residual_channels: int = 64,
        gate_channels: int | None = None,
        skip_channels: int | None = None,
        kernel_size: int = 2,
        layers_per_cycle: int = 10,
        cycles: int = 3,
        cond_channels: int = 0,
        global_cond_channels: int = 0,
    ) -> None:
        super().__init__()
        r = check_int("residual_channels", residual_channels, 1)
        gch = check_int("gate_channels", gate_channels if gate_channels is not None else r, 1)
        sch = check_int("skip_channels", skip_channels if skip_channels is not None else r, 1)
        check_int("cond_channels", cond_channels, 0)
        check_int("global_cond_channels", global_cond_channels, 0)
        self.dilations = wavenet_schedule(layers_per_cycle, cycles)
        self.kernel_size = check_int("kernel_size", kernel_size, 1)
        self.input = Conv1d(check_int("in_channels", in_channels, 1), r, 1)
        self.layers = nn.ModuleList(
            WaveNetLayer(r, gch, sch, kernel_size, d, cond_channels, global_cond_channels) for d in self.dilations
        )
        self.head = nn.Sequential(
            nn.ReLU(), Conv1d(sch, sch, 1), nn.ReLU(), Conv1d(sch, check_int("out_channels", out_channels, 1), 1)
        )
        self.cond_channels = cond_channels
        self.global_cond_channels = global_cond_channels

    def forward(self, x: Tensor, c: Tensor | None = None, g: Tensor | None = None) -> Tensor:
        h = self.input(x)
        total: Tensor | None = None
        for layer in self.layers:
            h, s = layer(h, c, g)
            total = s if total is None else total + s
        assert total is not None
        y: Tensor = self.head(total)
        return y

    def field(self, input_size: int | None = None) -> Field:
        """The exact receptive field of the output: the union over every layer's skip."""
        f = Field.identity(input_size).then(self.input.spec.axes()[0])
        skips = []
        for module in self.layers:
            layer = cast(WaveNetLayer, module)
            skips.append(f.then(layer.conv.spec.axes()[0]))  # the skip reads the gate output
            f = layer.field(f)
        merged = Field.union(skips, [f"layer{i}" for i in range(len(skips))])
        assert merged.field is not None
        return merged.field

    @property
    def receptive_field(self) -> int:
        """``(k - 1) * sum(dilations) + 1``: 3070 for 3 cycles of 1..512 with k = 2.

        Arithmetic (the skip of the last layer reads the widest field, every skip ends at the
        same step), so that it stays instant for any depth; :meth:`field` gives the tap sets.
        """
        return stack_receptive_field(self.dilations, self.kernel_size)

    def extra_repr(self) -> str:
        return f"layers={len(self.layers)}, receptive_field={self.receptive_field}"
