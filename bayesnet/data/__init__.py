"""Data sets: the embedded digits (no network needed) and loaders for local files."""

from .digits import digits, to_loader

__all__ = ["digits", "to_loader"]
