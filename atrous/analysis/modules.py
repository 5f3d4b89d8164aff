"""Specs of standard ``torch.nn`` layers (so that ``atrous.receptive_field`` takes them)."""

from __future__ import annotations

from torch import nn

from atrous.errors import SpecError
from atrous.geometry import ConvSpec, LayerSpec, PoolSpec, UpsampleSpec

__all__ = ["spec_of_module"]


def spec_of_module(m: nn.Module) -> LayerSpec:
    """The :class:`~atrous.ConvSpec` / ``PoolSpec`` / ``UpsampleSpec`` of a torch layer.

    Examples:
        >>> spec_of_module(nn.Conv2d(1, 1, 3, padding=2, dilation=2))
        ConvSpec(kernel_size=(3, 3), padding=(2, 2), dilation=(2, 2))
    """
    spec = getattr(m, "spec", None)
    if isinstance(spec, (ConvSpec, PoolSpec, UpsampleSpec)):
        return spec
    owner = next((c for c in type(m).__mro__ if "forward" in vars(c)), None)
    if owner is not None and not owner.__module__.startswith(("torch.nn.", "torch.ao.nn.")):
        raise SpecError(
            f"{type(m).__name__} has its own forward ({owner.__module__}.{owner.__qualname__}): what it computes "
            "may differ from its attributes (a padding in forward); analyse it with atrous.analyze(module, input_shape)"
        )
    if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        nd = len(m.kernel_size)
        return ConvSpec(m.kernel_size, m.stride, m.padding, m.dilation, ndim=nd)
    if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)):
        nd = len(m.kernel_size)
        return ConvSpec(
            m.kernel_size, m.stride, m.padding, m.dilation, transposed=True, output_padding=m.output_padding, ndim=nd
        )
    pools = {nn.MaxPool1d: 1, nn.MaxPool2d: 2, nn.MaxPool3d: 3, nn.AvgPool1d: 1, nn.AvgPool2d: 2, nn.AvgPool3d: 3}
    for cls, nd in pools.items():
        if isinstance(m, cls):
            mode = "max" if "Max" in cls.__name__ else "avg"
            dilation = m.dilation if mode == "max" else 1  # type: ignore[union-attr]
            stride = m.stride if m.stride not in (None, [], ()) else m.kernel_size
            return PoolSpec(
                _axes(m.kernel_size, nd),
                _axes(stride, nd),
                _axes(m.padding, nd),
                _axes(dilation, nd),
                mode=mode,
                ceil_mode=bool(m.ceil_mode),
                ndim=nd,
            )
    if isinstance(m, nn.Upsample) and m.scale_factor is not None and m.size is None:
        scales = m.scale_factor if isinstance(m.scale_factor, tuple) else (m.scale_factor,)
        if all(float(s).is_integer() for s in scales) and m.mode in ("nearest", "linear", "bilinear", "trilinear"):
            if m.mode != "nearest" and m.align_corners:
                raise SpecError(f"{m!r}: align_corners=True has no fixed tap pattern; use atrous.analyze")
            ints = tuple(int(s) for s in scales)
            return UpsampleSpec(
                ints[0] if len(ints) == 1 else ints, mode="nearest" if m.mode == "nearest" else "linear"
            )
    raise SpecError(f"cannot read a layer spec from {type(m).__name__}: analyse whole models with atrous.analyze")


def _axes(value: object, nd: int) -> tuple[int, ...]:
    if isinstance(value, (tuple, list)):
        return tuple(int(v) for v in value)
    return (int(value),) * nd  # type: ignore[call-overload]
