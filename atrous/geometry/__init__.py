"""The exact geometry core of atrous: pure Python, the single source of truth for sizes,
paddings and receptive fields. Importing it loads neither NumPy nor PyTorch.

Examples:
    >>> from atrous.geometry import ConvSpec, output_size, receptive_field
    >>> output_size(9, 3, stride=2)
    4
    >>> [f.size for f in receptive_field([ConvSpec(3, dilation=d) for d in (1, 2, 4)])]
    [3, 7, 15]
"""

from atrous.errors import AtrousError, MisalignmentError, SpecError
from atrous.geometry.arithmetic import RELATIONSHIPS, Relationship, relationship
from atrous.geometry.dilation import (
    Coverage,
    DilationPlan,
    HDCResult,
    TempoBank,
    TempoDilation,
    coverage,
    exponential_schedule,
    frames_per_beat,
    hdc,
    plan_dilations,
    sawtooth_schedule,
    stack_receptive_field,
    tcn_receptive_field,
    tempo_bank,
    tempo_dilations,
    wavenet_schedule,
)
from atrous.geometry.field import (
    Alignment,
    Field,
    FieldND,
    Merge,
    Phase,
    TapSpan,
    axis_taps,
    receptive_field,
    tap_spans,
)
from atrous.geometry.shape import (
    axis_length,
    causal_padding,
    full_padding,
    invert,
    layer_output_size,
    min_input_size,
    output_padding_range,
    output_size,
    same_padding,
    valid_output_sizes,
)
from atrous.geometry.spec import (
    PADDING_MODES,
    Axis,
    ConvSpec,
    LayerSpec,
    PaddingLike,
    PoolSpec,
    UpsampleSpec,
    as_spec,
)

__all__ = [
    "PADDING_MODES",
    "RELATIONSHIPS",
    "Alignment",
    "AtrousError",
    "Axis",
    "ConvSpec",
    "Coverage",
    "DilationPlan",
    "Field",
    "FieldND",
    "HDCResult",
    "LayerSpec",
    "Merge",
    "MisalignmentError",
    "PaddingLike",
    "Phase",
    "PoolSpec",
    "Relationship",
    "SpecError",
    "TapSpan",
    "TempoBank",
    "TempoDilation",
    "UpsampleSpec",
    "as_spec",
    "axis_length",
    "axis_taps",
    "causal_padding",
    "coverage",
    "exponential_schedule",
    "frames_per_beat",
    "full_padding",
    "hdc",
    "invert",
    "layer_output_size",
    "min_input_size",
    "output_padding_range",
    "output_size",
    "plan_dilations",
    "receptive_field",
    "relationship",
    "same_padding",
    "sawtooth_schedule",
    "stack_receptive_field",
    "tap_spans",
    "tcn_receptive_field",
    "tempo_bank",
    "tempo_dilations",
    "valid_output_sizes",
    "wavenet_schedule",
]
