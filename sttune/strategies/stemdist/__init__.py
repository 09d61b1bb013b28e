"""STemDist: spatio-temporal dataset distillation (clusters x sampled windows, gradient matching)."""

from sttune.strategies.stemdist.strategy import STemDist

__all__ = ["STemDist"]
