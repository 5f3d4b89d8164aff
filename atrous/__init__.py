"""atrous: dilated (atrous) and transposed convolutions, exactly.

The geometry core (sizes, paddings, receptive fields, dilation plans) is re-exported here and
loads neither NumPy nor PyTorch. The torch parts load on first use: ``at.analyze``,
``at.erf`` and ``at.stream`` (see :mod:`atrous.analysis`, :mod:`atrous.stream`), the layers in
:mod:`atrous.nn`, the ops in :mod:`atrous.functional`, the NumPy oracle in
:mod:`atrous.reference` and the pictures in :mod:`atrous.viz`.

Examples:
    >>> import atrous as at
    >>> at.output_size((9, 9), 3, stride=2)
    (4, 4)
    >>> [f.size for f in at.receptive_field([at.ConvSpec(3, dilation=d) for d in (1, 2, 4)])]
    [3, 7, 15]
"""

from typing import Any

from atrous.geometry import *  # noqa: F403
from atrous.geometry import __all__ as _geometry_all
from atrous.geometry.spec import register_spec_reader as _register

# torch layers describe themselves to the core through a reader loaded on first use
_register("torch.", "atrous.analysis.modules:spec_of_module")

__version__ = "0.1.0"

# torch-backed functions, imported on first use so that `import atrous` stays light
_LAZY = {
    "analyze": ("atrous.analysis", "analyze"),
    "erf": ("atrous.analysis", "erf"),
    "stream": ("atrous.stream", None),
}

__all__ = sorted([*_geometry_all, *_LAZY, "__version__"])


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module_name, attr = _LAZY[name]
        module = importlib.import_module(module_name)
        return module if attr is None else getattr(module, attr)
    raise AttributeError(f"module 'atrous' has no attribute {name!r}")


def __dir__() -> list[str]:
    # the lazy names are listed (tab completion, dir()) before they are first imported
    return sorted({*globals(), *_LAZY})
