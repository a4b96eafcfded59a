"""The one error sizing and placement raise for bad input."""

from __future__ import annotations


class SizingError(ValueError):
    """Bad sizing input (unknown model, quantization or GPU, context too long...).

    The message names the bad value and lists the valid choices.
    """
