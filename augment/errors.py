"""The one error type the library raises for bad input (file, column, op, parameter)."""

from __future__ import annotations


class AugmentError(ValueError):
    """Bad input, with a one-line message that names the file, column, op or parameter."""
