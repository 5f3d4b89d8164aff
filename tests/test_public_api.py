"""The public names are a contract: removing one fails here (kornia's habit)."""

import importlib
import subprocess
import sys

import pytest

import atrous
import atrous.geometry

PUBLIC = {
    "ConvSpec", "PoolSpec", "UpsampleSpec", "SpecError", "AtrousError", "output_size",
    "output_padding_range", "valid_output_sizes", "same_padding", "causal_padding", "full_padding",
    "invert", "receptive_field", "Field", "FieldND", "hdc", "coverage", "plan_dilations",
    "exponential_schedule", "wavenet_schedule", "sawtooth_schedule", "tcn_receptive_field",
    "stack_receptive_field", "RELATIONSHIPS", "frames_per_beat",
    "tempo_dilations", "tempo_bank", "TempoDilation", "TempoBank",
}  # fmt: skip

#: every public subpackage's names, sorted: adding a name means adding it here, removing one fails
PINS = {
    "atrous": [
        "Alignment", "AtrousError", "Axis", "Checkerboard", "ConvSpec", "Coverage", "DilationPlan", "Field",
        "FieldND", "GriddingWarning", "HDCResult", "LayerSpec", "Merge", "MisalignmentError", "PADDING_MODES",
        "PaddingLike", "Phase", "PoolSpec", "RELATIONSHIPS", "Relationship", "SpecError", "TapSpan", "TempoBank", "TempoDilation",
        "UpsampleSpec", "__version__", "analyze", "as_spec", "axis_length", "axis_taps", "causal_padding",
        "checkerboard", "coverage", "dilation_schedule", "erf", "exponential_schedule", "frames_per_beat",
        "full_padding", "hdc", "invert", "layer_output_size", "min_input_size", "output_padding_range",
        "output_size", "plan_dilations", "receptive_field", "relationship", "replacement_rates", "residual_field",
        "same_padding", "sawtooth_schedule", "stack_receptive_field", "stream", "tap_spans", "tcn_receptive_field",
        "tempo_bank", "tempo_dilations", "valid_output_sizes", "wavenet_schedule",
    ],
    "atrous.geometry": [
        "Alignment", "AtrousError", "Axis", "Checkerboard", "ConvSpec", "Coverage", "DilationPlan", "Field",
        "FieldND", "GriddingWarning", "HDCResult", "LayerSpec", "Merge", "MisalignmentError", "PADDING_MODES",
        "PaddingLike", "Phase", "PoolSpec", "RELATIONSHIPS", "Relationship", "SpecError", "TapSpan", "TempoBank", "TempoDilation",
        "UpsampleSpec", "as_spec", "axis_length", "axis_taps", "causal_padding", "checkerboard", "coverage",
        "dilation_schedule", "exponential_schedule", "frames_per_beat", "full_padding", "hdc", "invert",
        "layer_output_size", "min_input_size", "output_padding_range", "output_size", "plan_dilations",
        "receptive_field", "relationship", "replacement_rates", "residual_field", "same_padding",
        "sawtooth_schedule", "stack_receptive_field", "tap_spans", "tcn_receptive_field", "tempo_bank",
        "tempo_dilations", "valid_output_sizes", "wavenet_schedule",
    ],
    "atrous.nn": [
        "ASPP", "ASPPConv", "ASPPPooling", "ASPPSeparableConv", "CausalConv1d", "Checkerboard", "ContextModule",
        "Conv1d", "Conv2d", "Conv3d", "ConvNd", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
        "ConvTransposeNd", "DegriddingTail", "DilatedGraphConv", "EdgeConv", "GriddingWarning", "HDCBlock",
        "ResizeConv", "ShiftConsistencyLoss", "SubPixelConv", "TCN", "TemporalBlock", "TransposedUpsample",
        "WaveNet", "WaveNetLayer", "bilinear_spec", "checkerboard", "dilated_knn", "dilation_schedule",
        "graph_aggregate", "hop_neighbourhood", "icnr_", "residual_field", "shift_consistency",
    ],
    "atrous.analysis": [
        "AnalysisWarning", "Call", "ERF", "GLOBAL", "Global", "GriddingIssue", "Node", "Report", "Trace", "analyze",
        "available_memory", "erf", "replacement_rates", "trace",
    ],
    "atrous.viz": [
        "ANIMATION_COLOURS", "CONV_ARITHMETIC", "animate", "build_report", "checkerboard_map",
        "conv_arithmetic_set", "coverage_map", "detection_probability", "erf_heatmap", "frame_cells",
        "frequency_response", "rf_growth", "save_all", "svg",
    ],
    "atrous.stream": [
        "Plan", "Residual", "StepModule", "StreamMismatch", "Streamer", "Verified", "argmax_mu_law",
        "argmax_one_hot", "categorical", "mu_law_decode", "mu_law_encode", "register", "register_pointwise",
        "stream", "verify",
    ],
    "atrous.functional": [
        "PADDING_MODES_TORCH", "PaddingLike", "apply_conv", "apply_conv_transpose", "conv", "conv_transpose",
        "resolve_conv", "resolve_conv_transpose",
    ],
    "atrous.datasets": [
        "BLANK", "DNAData", "Lanes", "MARKER", "ObjectsData", "PointClouds", "PulseTrains", "SHAPES", "Scans",
        "adding_problem", "compatible", "copy_memory", "encode", "gaussian_matrix", "labels_from_sequence",
        "lesion_scans", "long_range_dna", "periodicity_task", "point_clouds", "pulse_trains",
        "quadrant_accuracy_bound", "quadrant_labels", "random_rotations", "road_lanes", "sample_surface",
        "smooth_fields", "sparse_dots", "square_objects", "tempo_task",
    ],
}  # fmt: skip


@pytest.mark.parametrize("module", sorted(PINS))
def test_all_is_pinned(module):
    names = importlib.import_module(module).__all__
    assert len(names) == len(set(names)), f"{module}.__all__ lists a name twice"
    assert sorted(names) == PINS[module], (
        f"{module}.__all__ changed: added {sorted(set(names) - set(PINS[module]))}, "
        f"removed {sorted(set(PINS[module]) - set(names))}"
    )


@pytest.mark.parametrize("module", sorted(PINS))
def test_every_public_name_resolves(module):
    mod = importlib.import_module(module)
    for name in mod.__all__:
        assert getattr(mod, name) is not None, f"{module}.{name}"
        assert name in dir(mod), f"{module}.{name} missing from dir()"


def test_lazy_names_are_listed_before_torch_loads():
    code = (
        "import sys, atrous\n"
        "lazy = {'analyze', 'erf', 'stream'}\n"
        "assert lazy <= set(atrous.__all__) and lazy <= set(dir(atrous)), dir(atrous)\n"
        "assert 'torch' not in sys.modules\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_public_names_exist():
    for name in PUBLIC:
        assert hasattr(atrous, name), name
        assert name in atrous.__all__, name
    for name in atrous.geometry.__all__:
        assert hasattr(atrous.geometry, name), name


def test_geometry_import_is_light():
    code = (
        "import sys, atrous.geometry, atrous;"
        "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, sorted(sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_lazy_torch_functions():
    import atrous as at

    assert callable(at.analyze) and callable(at.erf) and callable(at.stream)
    import torch

    net = torch.nn.Sequential(torch.nn.Conv1d(1, 1, 3, dilation=2))
    assert at.analyze(net, (1, 1, 16)).field()[0].size == 5


def test_datasets_names():
    import atrous.datasets as datasets

    assert {"adding_problem", "copy_memory", "long_range_dna", "square_objects", "sparse_dots", "pulse_trains"} <= set(
        datasets.__all__
    )
    for name in datasets.__all__:
        assert getattr(datasets, name) is getattr(getattr(datasets, datasets._WHERE[name]), name)
    try:
        datasets.nope  # noqa: B018
    except AttributeError as e:
        assert "nope" in str(e)
    else:
        raise AssertionError("unknown names must raise AttributeError")
