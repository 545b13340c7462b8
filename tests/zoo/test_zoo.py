"""The meta-test: the conformance suite, with CI settings, catches every zoo member by the
rule it names, passes the TutorialManager on every core rule, and passes the reference.

``test_members.py`` shows each bug is real without the suite; this file shows the suite
sees it. Both backends, fixed seed, the suite's default example count (the CI settings).
"""

from __future__ import annotations

import pytest

from tasktail import scenarios
from tasktail.scenarios import check_connection_manager
from tasktail.scenarios._suite import LAYER2_RULES
from tasktail.zoo import ZOO, factory_for, tutorial_factory

SEED = 0
EXAMPLES = 300  # the CI setting: generated programs per backend (the search no longer stops at a failure)


def failures(report) -> dict[str, str]:
    return {rule: f"{o.detail} | counterexample: {o.counterexample}"
            for rule, o in report.outcomes.items() if o.status == "FAIL"}


@pytest.mark.parametrize("member", list(ZOO), ids=lambda m: f"{m}-{ZOO[m].breaks}")
def test_suite_catches_member_by_its_rule(member):
    rule = ZOO[member].breaks
    report = check_connection_manager(factory_for(member), rules=rule, backend="both", seed=SEED, examples=EXAMPLES)
    outcome = report.outcomes[rule]
    assert outcome.status == "FAIL", f"{member} ({ZOO[member].__doc__.splitlines()[0]}) got {outcome}"
    assert not report.ok


#: members the generated programs do not catch yet at this budget (the scripted check does)
GENERATED_MISSES = {"ConnectLast"}  # LOCK-4: the overtaking producers are not drawn
#: members of rules the generated programs do not judge (scripted only: MEM-1's reachability)
JUDGED = [m for m in ZOO if ZOO[m].breaks in LAYER2_RULES]


def _generated_only(member):
    rule = ZOO[member].breaks
    report = check_connection_manager(factory_for(member), rules=rule, backend="both", seed=SEED, examples=EXAMPLES,
                                      scripted=False)
    return report.outcomes[rule]


@pytest.mark.parametrize("member", [m for m in JUDGED if m not in GENERATED_MISSES],
                         ids=lambda m: f"{m}-{ZOO[m].breaks}")
def test_generated_programs_alone_catch_member_by_its_rule(member):
    """The hypothesis layer on its own, scripted checks off: it must find every bug too."""
    outcome = _generated_only(member)
    assert outcome.status == "FAIL" and outcome.caught_by.startswith("program #"), outcome


@pytest.mark.parametrize("member", sorted(GENERATED_MISSES))
def test_generated_misses_are_not_stale(member):
    assert member in JUDGED
    assert _generated_only(member).status != "FAIL", f"{member} is caught now: take it off GENERATED_MISSES"


def test_members_outside_the_generated_rules_are_few():
    assert {ZOO[m].breaks for m in ZOO if m not in JUDGED} == {"MEM-1"}


def test_tutorial_passes_every_core_rule():
    report = check_connection_manager(tutorial_factory, rules="*", backend="both", seed=SEED, examples=EXAMPLES)
    assert failures(report) == {}
    core = set(scenarios.CORE_RULES)
    # strictly: drop-oldest is not the NON-STRICT alternative, and nothing core is UNSUPPORTED
    assert {rule for rule, o in report.outcomes.items() if o.status == "PASS"} >= core


def test_reference_passes():
    report = check_connection_manager(scenarios.reference_factory, rules="*", backend="both", seed=SEED, examples=EXAMPLES)
    assert failures(report) == {}
    assert report.ok
