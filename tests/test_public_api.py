"""The public names are a contract: removing one fails here (kornia's habit)."""

import subprocess
import sys

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
