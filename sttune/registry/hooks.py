"""Are a plugin class's hooks the ones sttune calls, with arguments sttune can pass? As pluggy
refuses a hook implementation whose name or arguments match no hook specification.

The hooks are the public methods of :class:`sttune.api.Strategy` (``prepare`` … ``planned_work``,
``space``) and of :class:`sttune.api.STModel` (``forward``, ``space``). sttune passes their
arguments by position, so an override may name them as it likes; it must take as many as the
base class's hook (``*args`` counts) and give any parameter beyond them a default.

Two kinds of problem:

* a *signature* problem: an override sttune cannot call (a parameter too few, an extra required
  one, an instance method where ``space`` is a classmethod). Unambiguous: it would raise a
  ``TypeError`` when called, so the plugin is refused when it is loaded and in the contract.
* a *misnamed* method: a public method of a Strategy subclass that is no hook of
  :class:`~sttune.api.Strategy` but looks like one: its name starts with ``on_`` or is close to a
  hook's name (:data:`CLOSE`, difflib's ratio). The trainer never calls it, which is never what
  its author meant (``on_epoch_ends``, ``selec``, ``transform_batchs``). A guess, so only the
  contract refuses it (``sttune plugins check``); a helper escapes it by a private name (``_x``).
  Only the classes that are themselves Strategy subclasses are read: a mixin's methods are its own.
"""

from __future__ import annotations

import difflib
import inspect
from dataclasses import dataclass
from typing import Any

CLOSE = 0.7  # difflib ratio from which a method name reads as a hook's (prepar, selec, transform_batchs)


@dataclass(frozen=True)
class HookProblem:
    """One method sttune would not call as its author meant; ``message`` is one line."""

    method: str
    message: str
    misnamed: bool = False  # True: a name that looks like a hook (the contract's guess)


def hook_names(base: type) -> list[str]:
    """The public methods a base class defines (its hooks), in definition order."""
    return [name for name, value in vars(base).items() if not name.startswith("_") and _is_method(value)]


def _is_method(value: Any) -> bool:
    return inspect.isfunction(value) or isinstance(value, (classmethod, staticmethod))


def _owner(cls: type, name: str) -> type:
    return next(k for k in cls.__mro__ if name in vars(k))


def _shown(fn: Any) -> str:
    """``fn``'s parameters by name (no annotations): ``(self, ctx, extra=...)``."""
    marks = {inspect.Parameter.VAR_POSITIONAL: "*", inspect.Parameter.VAR_KEYWORD: "**"}
    shown: list[str] = []
    for p in inspect.signature(fn).parameters.values():
        if p.kind is p.KEYWORD_ONLY and not any(s.startswith("*") for s in shown):
            shown.append("*")
        shown.append(f"{marks.get(p.kind, '')}{p.name}{'' if p.default is p.empty else '=...'}")
    return f"({', '.join(shown)})"


def signature_problem(cls: type, base: type, name: str) -> HookProblem | None:
    """Why sttune could not call ``cls``'s ``name`` as it calls ``base``'s (None: it can, or
    ``cls`` does not override it, or its signature cannot be read)."""
    theirs, ours = vars(base)[name], inspect.getattr_static(cls, name)
    if ours is theirs:
        return None
    where = f"{_owner(cls, name).__name__}.{name}"
    spec = f"{base.__name__}.{name}"
    base_fn = theirs.__func__ if isinstance(theirs, (classmethod, staticmethod)) else theirs
    if isinstance(theirs, classmethod) and not isinstance(ours, classmethod):
        return HookProblem(name, f"{where} must be a @classmethod, as {spec} is: sttune calls it on the class")
    if not callable(ours) and not isinstance(ours, (classmethod, staticmethod)):
        return HookProblem(name, f"{where} is a {type(ours).__name__}, but {spec} is a hook sttune calls: "
                                 f"rename the attribute")
    params = [p for p in inspect.signature(base_fn).parameters.values()][1:]  # less self / cls
    # what sttune calls: an instance method's function also gets self; a classmethod comes bound
    extra_self = inspect.isfunction(ours)
    try:
        signature = inspect.signature(getattr(cls, name))
    except (TypeError, ValueError):
        return None  # a builtin or an odd callable: nothing to read, nothing to refuse
    try:
        signature.bind(*([None] * (len(params) + extra_self)))
    except TypeError as exc:
        wanted = ", ".join(p.name for p in params)
        return HookProblem(name, f"{where}{_shown(getattr(cls, name))} cannot take what sttune passes to "
                                 f"{spec}{_shown(base_fn)} ({exc}): accept ({wanted}) by position and give "
                                 "any other parameter a default")
    return None


def misnamed(cls: type, base: type) -> list[HookProblem]:
    """Public methods of ``cls`` (read in its ``base`` subclasses only) that no caller will call
    as a hook although their name looks like one: starts with ``on_`` or is close to a hook's."""
    hooks = hook_names(base)
    found: list[HookProblem] = []
    seen: set[str] = set()
    for klass in cls.__mro__:
        if klass is base or not issubclass(klass, base):
            continue
        for name, value in vars(klass).items():
            if name.startswith("_") or name in seen or hasattr(base, name) or not _is_method(value):
                continue
            seen.add(name)
            close = difflib.get_close_matches(name, hooks, n=1, cutoff=CLOSE)
            if not close and not name.startswith("on_"):
                continue
            if not close:  # an on_ name: the nearest on_ hook, however far
                close = difflib.get_close_matches(name, [h for h in hooks if h.startswith("on_")], n=1, cutoff=0.0)
            hook = close[0]
            found.append(HookProblem(
                name, f"{klass.__name__}.{name} is not a hook of sttune.api.{base.__name__} (did you mean {hook}?): "
                      f"sttune never calls it; rename it to {hook}, or to _{name} if it is a helper", misnamed=True))
    return found


def strategy_problems(cls: type) -> list[HookProblem]:
    """Every hook of a Strategy subclass sttune cannot call, and every method that looks like a
    hook but is none (``misnamed``)."""
    from sttune.api import Strategy

    wrong = [p for name in hook_names(Strategy) if (p := signature_problem(cls, Strategy, name))]
    return wrong + misnamed(cls, Strategy)


def model_problems(cls: type) -> list[HookProblem]:
    """``forward`` and ``space`` of an STModel subclass: defined, and callable as sttune calls them."""
    from sttune.api import STModel

    found = [p for name in ("forward", "space") if (p := signature_problem(cls, STModel, name))]
    if inspect.getattr_static(cls, "forward") is vars(STModel)["forward"]:
        own = [n for k in cls.__mro__ if k is not STModel and issubclass(k, STModel)
               for n, v in vars(k).items() if not n.startswith("_") and _is_method(v)]
        close = difflib.get_close_matches("forward", own, n=1, cutoff=CLOSE)
        guess = f", only {close[0]} (did you mean forward?)" if close else ""
        found.insert(0, HookProblem("forward", f"{cls.__name__} defines no forward{guess}: sttune calls "
                                               "forward(x, nodes, node_inputs, graph) for every forecast"))
    return found
