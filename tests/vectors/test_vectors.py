"""The test vectors: valid, up to date, passing on the reference, covering SPEC, and able to fail."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tasktail.fakes import available_backends
from tasktail.manager import ConnectionManager
from tasktail.vectors import CORPUS, SCENARIOS, SCHEMA, VERSION, dumps, load, per_rule, reference_factory, run
from tasktail.vectors import run_vector, validate, vector_for
from tasktail.vectors._corpus import with_policy
from tasktail.vectors._scenarios import NOT_EXPRESSIBLE
from tasktail.zoo import factory_for, reference_factory_for, tutorial_factory
from tests.test_spec import spec_rules

BACKENDS = available_backends()
SCHEMA_JSON = json.loads(SCHEMA.read_text(encoding="utf-8"))
VECTORS = load()


def test_the_corpus_has_one_file_per_scenario():
    assert sorted(p.stem for p in CORPUS.glob("*.json")) == sorted(s.id for s in SCENARIOS)
    assert len({s.id for s in SCENARIOS}) == len(SCENARIOS)


@pytest.mark.parametrize("vector", VECTORS, ids=lambda v: v["id"])
def test_every_vector_validates_against_the_schema(vector):
    assert SCHEMA_JSON["version"] == VERSION == vector["version"]
    assert validate(vector, SCHEMA_JSON) == []


def test_the_validator_rejects_what_the_schema_forbids():
    vector = json.loads(json.dumps(VECTORS[0]))
    vector["steps"].append({"op": "explode"})
    vector["setup"]["max_queue_size"] = 0
    vector["expect"]["clients"]["zz"] = {"accepted": True, "frames": [{"type": "log"}], "close": 1234,
                                         "violations": []}
    errors = validate(vector, SCHEMA_JSON)
    assert any(e.startswith("$.steps:") for e in errors) or any("steps[" in e for e in errors)
    assert any("max_queue_size" in e for e in errors)
    assert any(e.startswith("$.expect:") for e in errors)
    client_errors = validate(vector["expect"]["clients"]["zz"], {"$ref": "#/$defs/client"}, SCHEMA_JSON)
    assert any(".frames[0]" in e for e in client_errors) and any(".close" in e for e in client_errors)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda s: s.id)
def test_the_corpus_is_what_the_scenarios_generate(scenario):
    committed = (CORPUS / f"{scenario.id}.json").read_text(encoding="utf-8")
    assert dumps(vector_for(scenario)) == committed, "run: python -m tasktail.vectors generate"


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_reference_passes_every_vector(backend):
    verdicts = run(reference_factory, [backend], VECTORS)
    assert {v.vector: (v.grade, v.problems) for v in verdicts if v.grade != "PASS"} == {}
    assert len(verdicts) == len(VECTORS) >= 40


def test_every_spec_rule_has_a_vector_or_a_reason():
    rules = set(spec_rules())
    covered = {rule for v in VECTORS for rule in v["rules"]}
    assert covered - rules == set(), "vectors cite rules SPEC does not have"
    assert rules - covered - set(NOT_EXPRESSIBLE) == set(), "SPEC rules with no vector and no stated reason"
    assert set(NOT_EXPRESSIBLE) & covered == set(), "listed as not expressible but a vector covers it"
    assert set(NOT_EXPRESSIBLE) - rules == set(), "listed as not expressible but not in SPEC"
    assert all(reason.strip() for reason in NOT_EXPRESSIBLE.values())


class StaleDetach(ConnectionManager):
    """Planted bug: ``detach`` acts on whatever the task's current client is, so a replaced
    endpoint's cleanup removes its successor (breaks REPL-2)."""

    def detach(self, task_id: str, websocket: Any, *args: Any, **kwargs: Any) -> bool:
        current = self.active_connections.get(task_id)
        return super().detach(task_id, current if current is not None else websocket, *args, **kwargs)


def stale_detach_factory(**config: Any) -> Any:
    return StaleDetach(**with_policy(config))


def resume_across_incarnations_factory(**config: Any) -> Any:
    return reference_factory_for("ResumeAcrossIncarnations")(**with_policy(config))


LIFO_FAILS = {"cap1-queue-never-exceeds-cap", "cap3-drop-oldest", "fail1-send-error-keeps-the-message",
              "ord2-flush-in-order", "ord2-several-producers", "ord3-reconnect-loop"}
BROKEN = {
    # name: (factory, the rule it breaks, the vectors it fails). A vector judges its whole
    # outcome, so a bug can fail vectors written for other rules too: LifoFlush reverses
    # every flush, and each vector with a flush of two or more messages sees it.
    "zoo ClearWhenFull": (factory_for("ClearWhenFull"), "CAP-3", {"cap3-drop-oldest"}),
    "zoo LifoFlush": (factory_for("LifoFlush"), "ORD-2", LIFO_FAILS),
    "planted StaleDetach": (stale_detach_factory, "REPL-2", {"repl2-stale-detach-is-a-no-op"}),
    "reference zoo ResumeAcrossIncarnations": (
        resume_across_incarnations_factory, "RES-4",
        {"res4-epoch-change", "res4-reset-while-connecting", "res4-reset-while-connecting-with-epoch"}),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(BROKEN))
def test_a_broken_manager_fails_the_vectors_of_the_rule_it_breaks(name, backend):
    factory, rule, expected = BROKEN[name]
    verdicts = run(factory, [backend], VECTORS)
    failed = {v.vector: v.problems for v in verdicts if v.grade == "FAIL"}
    assert per_rule(verdicts)[rule] == "FAIL"
    assert set(failed) == expected, failed
    assert all(failed.values())
    assert any(rule in v.rules for v in verdicts if v.vector in failed)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_correct_seed_manager_passes_every_seed_vector(backend):
    """The control for the zoo members above: the zoo's correct TutorialManager (no seq) passes
    every vector of profile "seed" and is not judged by the others (UNSUPPORTED)."""
    verdicts = run(tutorial_factory, [backend], VECTORS)
    seed = {v["id"] for v in VECTORS if v["profile"] == "seed"}
    assert {v.vector for v in verdicts if v.grade == "PASS"} == seed and len(seed) >= 10
    assert {v.grade for v in verdicts if v.vector not in seed} == {"UNSUPPORTED"}


def test_the_runner_command_reports_per_vector_and_per_rule_and_exits_1_on_fail(capsys):
    from tasktail.vectors.__main__ import main

    assert main(["run"]) == 0
    out = capsys.readouterr().out
    assert "PASS         res4-epoch-change [asyncio] RES-4 WIRE-4" in out
    assert "PASS         res4-epoch-change [trio] RES-4 WIRE-4" in out
    assert "\nPASS         RES-4\n" in out and "\nFAIL " not in out
    assert main(["run", "--factory", "tests.vectors.test_vectors:stale_detach_factory", "--backend", "trio"]) == 1
    out = capsys.readouterr().out
    assert "FAIL         repl2-stale-detach-is-a-no-op [trio] REPL-2" in out
    assert "\nFAIL         REPL-2\n" in out and "[asyncio]" not in out


def test_a_manager_that_breaks_the_run_is_a_fail_not_a_crash():
    def refuses_config(**config: Any) -> Any:
        raise TypeError("unexpected keyword argument 'history_size'")

    verdict = run_vector(VECTORS[0], refuses_config, BACKENDS[0])
    assert verdict.grade == "FAIL" and "the run crashed: TypeError" in verdict.problems[0]


def test_a_vector_of_another_version_or_with_an_unknown_step_is_refused_not_graded():
    from tasktail.vectors._corpus import VectorError, reference_factory

    vector = VECTORS[0]
    for bad in ({**vector, "version": "tasktail-vectors/2"},
                {**vector, "steps": [*vector["steps"], {"op": "teleport", "client": "a"}]}):
        with pytest.raises(VectorError, match="cannot be replayed"):
            run_vector(bad, reference_factory, "asyncio")
