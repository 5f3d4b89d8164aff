"""Synthetic datasets of the examples: exact, seeded generators of the tasks dilation is known for.

Each generator takes an explicit seed, so a run is reproducible to the bit; every bad argument
raises :class:`atrous.errors.SpecError` naming it. Modules (imported on first use):

- ``sequence``: the adding problem and copy memory, as in Bai et al. (2018).
- ``genomics``: long-range synthetic DNA (a promoter's label set by an enhancer ~20 kb away).
- ``objects``: dense prediction with squares of a given size (context of the object's size).
- ``dense``: sparse dots and smooth fields (the gridding and upsampling examples).
- ``rhythm``: pulse trains at a tempo (tempo detection by matched dilations).
- ``roads``: road images with perspective lane lines, dashed and occluded (long thin structures).
- ``scans``: a large organ with tiny lesions and look-alike spots (small objects next to large ones).
- ``shapes``: point clouds of five solids, rotated and noisy (graph convolution on k-NN graphs).

Examples:
    >>> from atrous.datasets import adding_problem
    >>> x, y = adding_problem(4, 50, seed=0)
    >>> tuple(x.shape), tuple(y.shape)
    ((4, 2, 50), (4, 1))
"""

from __future__ import annotations

import importlib
from typing import Any

_MODULES = {
    "sequence": ["adding_problem", "copy_memory", "BLANK", "MARKER"],
    "genomics": ["DNAData", "encode", "labels_from_sequence", "long_range_dna"],
    "objects": ["ObjectsData", "quadrant_accuracy_bound", "quadrant_labels", "square_objects"],
    "dense": ["gaussian_matrix", "smooth_fields", "sparse_dots"],
    "rhythm": ["PulseTrains", "compatible", "periodicity_task", "pulse_trains", "tempo_task"],
    "roads": ["Lanes", "road_lanes"],
    "scans": ["Scans", "lesion_scans"],
    "shapes": ["SHAPES", "PointClouds", "point_clouds", "random_rotations", "sample_surface"],
}
_WHERE = {name: module for module, names in _MODULES.items() for name in names}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _WHERE:
        value = getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*__all__, *_MODULES])
