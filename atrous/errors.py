"""The error hierarchy of atrous (pure Python, imported by every subpackage)."""

from __future__ import annotations

__all__ = ["AtrousError", "GriddingWarning", "MisalignmentError", "SpecError"]


class AtrousError(Exception):
    """Base class of every error atrous raises on purpose."""


class SpecError(AtrousError, ValueError):
    """An invalid layer specification or input size.

    The message names the parameter, the value given and the valid range.
    """


class MisalignmentError(SpecError):
    """Receptive fields that cannot be merged exactly (their jumps differ)."""


class GriddingWarning(UserWarning):
    """Dilation rates that grid (leave holes in the receptive field or fail the HDC rule)."""
