"""The simulator: realistic synthetic scenarios over real West Yorkshire geography, with
their ground truth, and scoring of candidates against it."""

from __future__ import annotations

from .score import score
from .simulate import simulate

__all__ = ["score", "simulate"]
