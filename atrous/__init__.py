"""atrous: dilated (atrous) and transposed convolutions, exactly.

The geometry core (sizes, paddings, receptive fields, dilation plans) is re-exported here
and loads neither NumPy nor PyTorch; the NumPy reference oracle is :mod:`atrous.reference`.

Examples:
    >>> import atrous as at
    >>> at.output_size((9, 9), 3, stride=2)
    (4, 4)
    >>> [f.size for f in at.receptive_field([at.ConvSpec(3, dilation=d) for d in (1, 2, 4)])]
    [3, 7, 15]
"""

from atrous.geometry import *  # noqa: F403
from atrous.geometry import __all__ as _geometry_all

__version__ = "0.1.0"

__all__ = [*_geometry_all, "__version__"]
