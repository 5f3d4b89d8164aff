"""Pictures of convolutions: animations, figures and the HTML report.

Needs Pillow and matplotlib (``pip install atrous[viz]``).
"""

from atrous.viz.animate import ANIMATION_COLOURS, CONV_ARITHMETIC, animate, conv_arithmetic_set, frame_cells, svg
from atrous.viz.figures import (
    checkerboard_map,
    coverage_map,
    detection_probability,
    erf_heatmap,
    frequency_response,
    rf_growth,
    save_all,
)
from atrous.viz.report import build_report

__all__ = [
    "ANIMATION_COLOURS",
    "CONV_ARITHMETIC",
    "animate",
    "build_report",
    "checkerboard_map",
    "conv_arithmetic_set",
    "coverage_map",
    "detection_probability",
    "erf_heatmap",
    "frame_cells",
    "frequency_response",
    "rf_growth",
    "save_all",
    "svg",
]
