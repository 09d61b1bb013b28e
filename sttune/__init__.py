"""sttune: a plugin-based AutoML tuner for data-efficient spatio-temporal training.

The plugin API lives in :mod:`sttune.api`; heavy modules load lazily.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
