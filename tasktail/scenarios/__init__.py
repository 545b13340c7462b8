"""Scenarios and the conformance suite: check a ConnectionManager against SPEC.md.

* :func:`check_connection_manager` - the conformance suite as a function;
  ``tasktail conform`` and the pytest plugin (``--tasktail-impl``) wrap it.
* :class:`Program` and its operations, :func:`run_program` - the operation language and
  its runner (virtual time, both backends), with invariant checkers after every step.
* :func:`reference_factory` - the reference ``ConnectionManager``, claiming every capability.
"""

from ._program import (Advance, Cancel, CancelConnect, Connect, Detach, Disconnect, Drop, Fail, HandOver, Log, Program,
                       Query, Release)
from ._rules import CHECKS
from ._result import RunResult, Violation
from ._runner import run_program
from ._subject import ALL_CAPABILITIES, CORE_RULES, RULE_CAPABILITIES, load_factory, reference_factory
from ._findings import KINDS, Finding, SuiteError
from ._report import ConformanceReport, RuleOutcome
from ._subject import UsageError
from ._suite import DEFAULT_EXAMPLES, PRECONDITIONS, check_connection_manager, determinism

__all__ = [
    "ALL_CAPABILITIES", "Advance", "CHECKS", "CORE_RULES", "Cancel", "CancelConnect", "ConformanceReport", "Connect",
    "DEFAULT_EXAMPLES", "Detach", "Disconnect", "Drop", "Fail", "Finding", "HandOver", "KINDS", "Log", "PRECONDITIONS", "Program",
    "Query", "RULE_CAPABILITIES", "Release", "RuleOutcome", "RunResult", "SuiteError", "UsageError", "Violation",
    "check_connection_manager", "determinism",
    "load_factory", "reference_factory", "run_program",
]
