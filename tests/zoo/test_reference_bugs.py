"""The reference's pre-fix behaviours (``tasktail.zoo.REFERENCE_ZOO``): the suite, with CI
settings, finds each by the rule it names, and the generated programs find the hand-over
bug, the resume raced by a reset and the connect cancelled in a stalled close on their own
(the others are scripted checks' to find: a close that never answers, a thread waiting at
shutdown, a tight producer loop, a refusing policy)."""

from __future__ import annotations

import pytest

from tasktail.scenarios import check_connection_manager
from tasktail.zoo import REFERENCE_ZOO, reference_factory_for

SEED = 0
EXAMPLES = 300  # as tests/zoo/test_zoo.py
GENERATED_FINDS = ("StrandingHandOver", "ResumeAcrossIncarnations", "AttachedAfterCancelledConnect")


@pytest.mark.parametrize("member", list(REFERENCE_ZOO), ids=lambda m: f"{m}-{REFERENCE_ZOO[m].breaks}")
def test_suite_catches_reference_bug_by_its_rule(member):
    rule = REFERENCE_ZOO[member].breaks
    report = check_connection_manager(reference_factory_for(member), rules=rule, backend="both", seed=SEED,
                                      examples=EXAMPLES)
    assert report.outcomes[rule].status == "FAIL", report.outcomes[rule]


@pytest.mark.parametrize("member", GENERATED_FINDS)
def test_generated_programs_alone_catch_reference_bug(member):
    rule = REFERENCE_ZOO[member].breaks
    report = check_connection_manager(reference_factory_for(member), rules=rule, backend="both", seed=SEED,
                                      examples=EXAMPLES, scripted=False)
    outcome = report.outcomes[rule]
    assert outcome.status == "FAIL" and outcome.caught_by.startswith("program #"), outcome
