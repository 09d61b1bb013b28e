"""Search: studies per dataset, trial spaces, early stopping, selection, export, reports.

Calling the package is :func:`sttune.python_api.search` (see sttune/_callable.py)."""

from sttune._callable import make_callable

make_callable(__name__)
