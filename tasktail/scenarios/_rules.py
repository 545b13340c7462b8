"""Layer 1: the scripted checks, one or more per SPEC rule, run on each backend.

Theory of operation:

1. A check is written with :mod:`._harness` (``@check(rule)``, ``Harness``, ``expect``);
   the section modules hold them by SPEC section: ``_rules_ordering``, ``_rules_caps``,
   ``_rules_failures``, ``_rules_locks``, ``_rules_content``, ``_rules_validation``,
   ``_rules_threads``. This module imports them (registering their checks) and nothing
   imports this module but the suite: no cycle.
2. :data:`CHECKS` lists the checks of core rules first, then those of extension rules,
   each in import order (the order reports and SPEC.md's tables use).
"""

from __future__ import annotations

# Importing the section modules registers their checks, in this order (not alphabetical).
from . import _rules_ordering  # noqa: F401,I001
from . import _rules_caps  # noqa: F401,I001
from . import _rules_failures  # noqa: F401,I001
from . import _rules_locks  # noqa: F401,I001
from . import _rules_content  # noqa: F401,I001
from . import _rules_validation  # noqa: F401,I001
from . import _rules_threads  # noqa: F401,I001
from . import _rules_reliability  # noqa: F401,I001
from ._harness import CHECKS, Check, Failed, Harness, NonStrict, Unmet, check
from ._subject import CORE_RULES

__all__ = ["CHECKS", "Check", "Failed", "Harness", "NonStrict", "Unmet", "check"]

# Core before extension, import order within each (sort is stable); see 2. above.
CHECKS.sort(key=lambda c: c.rule not in CORE_RULES)
