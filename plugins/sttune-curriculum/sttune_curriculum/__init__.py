"""Easy-to-hard curriculum ordering of training windows, as an sttune strategy plugin."""

from sttune_curriculum.strategy import Curriculum, visit_fraction

__all__ = ["Curriculum", "visit_fraction"]
__version__ = "0.1.0"
