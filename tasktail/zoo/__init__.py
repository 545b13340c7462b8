"""The zoo: a correct tutorial manager and broken variants the conformance suite must catch.

* :class:`TutorialManager` - a small, correct manager with the seed's API (core rules only).
* :data:`ZOO` - name -> a subclass with one plausible bug; its ``breaks`` names the SPEC
  rule the suite must fail it on.
* :func:`tutorial_factory`, :func:`factory_for` - factories in the shape
  ``check_connection_manager`` takes: ``factory(**config)`` with ``tasktail_capabilities``.
* :func:`zoo_catch_table` - which rule the conformance suite fails each member on
  (``python -m tasktail.zoo`` prints it as Markdown).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import _lifecycle_bugs, _lock_bugs, _queue_bugs, _reference_bugs
from ._table import CatchRow, format_table, zoo_catch_table
from ._tutorial import TutorialManager

__all__ = ["CAPABILITIES", "CatchRow", "REFERENCE_ZOO", "TutorialManager", "ZOO", "factory_for", "format_table",
           "reference_factory_for",
           "tutorial_factory", "zoo_catch_table"]

_FAMILIES = ("FID", "ORD", "FLUSH", "CAP", "FAIL", "DISC", "REPL", "ISO", "LOCK", "PROD", "QRY", "MEM")  # SPEC.md's order


def _spec_order(cls: type[TutorialManager]) -> tuple[int, str, str]:
    return _FAMILIES.index(cls.breaks.split("-")[0]), cls.breaks, cls.__name__


#: name -> broken manager class, in SPEC order of the rule each breaks
ZOO: dict[str, type[TutorialManager]] = {
    cls.__name__: cls
    for cls in sorted((getattr(module, name) for module in (_queue_bugs, _lifecycle_bugs, _lock_bugs) for name in module.__all__),
                      key=_spec_order)
}


#: The reference with a bug it had before issue 9 put back: name -> class (``breaks``: the rule)
REFERENCE_ZOO: dict[str, type] = {name: getattr(_reference_bugs, name) for name in _reference_bugs.__all__}


def reference_factory_for(name: str) -> Callable[..., Any]:
    """The factory for reference zoo member ``name``: claims every capability, like the reference."""
    from tasktail.scenarios import ALL_CAPABILITIES  # lazy: hypothesis is a dev dependency

    try:
        return _factory(REFERENCE_ZOO[name], frozenset(ALL_CAPABILITIES))
    except KeyError:
        raise KeyError(f"no reference zoo member {name!r}; members: {', '.join(REFERENCE_ZOO)}") from None


#: Core rules, plus closing a replaced socket with 4000 (which the tutorial does, and without
#: which the suite has no way to see ``ReplacedLeftOpen``). No seq, gaps, statistics, resume,
#: policies, timeouts, cancellation or threads.
CAPABILITIES: frozenset[str] = frozenset({"close_replaced"})


def _factory(cls: type, capabilities: frozenset[str] = CAPABILITIES) -> Callable[..., Any]:
    def factory(**config: Any) -> Any:
        return cls(**config)

    factory.__name__ = factory.__qualname__ = f"{cls.__name__}_factory"
    factory.__doc__ = cls.__doc__
    factory.tasktail_capabilities = capabilities  # type: ignore[attr-defined]
    return factory


tutorial_factory = _factory(TutorialManager)


def factory_for(name: str) -> Callable[..., TutorialManager]:
    """The factory for zoo member ``name`` (``KeyError`` naming the members if unknown)."""
    try:
        return _factory(ZOO[name])
    except KeyError:
        raise KeyError(f"no zoo member {name!r}; members: {', '.join(ZOO)}") from None
