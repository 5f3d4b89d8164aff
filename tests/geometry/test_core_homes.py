"""Pure geometry lives in the core: the torch modules re-export the very same objects."""

import subprocess
import sys

import pytest

import atrous
import atrous.errors
import atrous.geometry as geometry

#: (old module, name): the geometry object each old home must still hand out, unchanged
MOVED = [
    ("atrous.nn.upsample", "checkerboard"),
    ("atrous.nn.upsample", "Checkerboard"),
    ("atrous.nn", "checkerboard"),
    ("atrous.nn.tcn", "dilation_schedule"),
    ("atrous.nn.tcn", "residual_field"),
    ("atrous.nn", "dilation_schedule"),
    ("atrous.nn", "residual_field"),
    ("atrous.analysis.report", "replacement_rates"),
    ("atrous.analysis.analyze", "replacement_rates"),
    ("atrous.analysis", "replacement_rates"),
    ("atrous.nn.hdc", "GriddingWarning"),
    ("atrous.nn", "GriddingWarning"),
]


@pytest.mark.parametrize(("module", "name"), MOVED)
def test_old_homes_re_export_the_geometry_objects(module, name):
    import importlib

    old = getattr(importlib.import_module(module), name)
    assert old is getattr(geometry, name)
    assert old is getattr(atrous, name)
    assert name in geometry.__all__


def test_homes_of_the_moved_names():
    assert geometry.checkerboard.__module__ == "atrous.geometry.overlap"
    assert geometry.Checkerboard.__module__ == "atrous.geometry.overlap"
    assert geometry.dilation_schedule.__module__ == "atrous.geometry.dilation"
    assert geometry.replacement_rates.__module__ == "atrous.geometry.dilation"
    assert geometry.residual_field.__module__ == "atrous.geometry.field"
    assert geometry.GriddingWarning is atrous.errors.GriddingWarning
    assert issubclass(geometry.GriddingWarning, UserWarning)


def test_moved_geometry_runs_without_torch():
    code = (
        "import sys\n"
        "from atrous.geometry import ConvSpec, Field, GriddingWarning, checkerboard, dilation_schedule,"
        " replacement_rates, residual_field\n"
        "assert checkerboard(ConvSpec(3, stride=2, padding=1, transposed=True)).counts == ((1, 2),)\n"
        "assert dilation_schedule('reset:3', 7) == (1, 2, 4, 1, 2, 4, 1)\n"
        "assert replacement_rates([2, 2, 2], 3) == (1, 3, 2)\n"
        "f = residual_field(Field.identity(), [ConvSpec(3, dilation=2, padding='causal')] * 2)\n"
        "assert f.size == 9, f\n"
        "assert 'torch' not in sys.modules and 'numpy' not in sys.modules, sorted(sys.modules)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_checkerboard_figure_imports_no_torch():
    pytest.importorskip("matplotlib")
    code = (
        "import sys\n"
        "from atrous.geometry import ConvSpec\n"
        "from atrous.viz.figures import checkerboard_map\n"
        "checkerboard_map(ConvSpec(3, stride=2, padding=1, transposed=True))\n"
        "assert 'torch' not in sys.modules, 'torch imported'\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
