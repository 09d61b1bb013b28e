"""DynST: data-level dynamic sparse training over sensors (entry point ``dynst``)."""

from sttune.strategies.dynst.strategy import DynST

__all__ = ["DynST"]
