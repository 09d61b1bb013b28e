"""Training: the trainer loop, metrics, timing, results. Calling the package is
:func:`sttune.python_api.train` (see sttune/_callable.py)."""

from sttune._callable import make_callable

make_callable(__name__)
