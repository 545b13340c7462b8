"""Generate the corpus from the scenarios and the reference; replay it against a factory."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ._judge import expectation, grade
from ._play import play_sync
from ._scenarios import SCENARIOS, Scenario
from ._schema import load_schema, validate

HERE = Path(__file__).resolve().parent
CORPUS = HERE / "corpus"
SCHEMA = HERE / "schema.json"
#: the vector format's version: the major changes when a vector's meaning changes
VERSION = "tasktail-vectors/1"
GRADES = ("PASS", "NON-STRICT", "UNSUPPORTED", "FAIL")  # worst last


def reference_factory(**config: Any) -> Any:
    """The reference, taking ``overflow`` by name as every port's factory does."""
    from tasktail.manager import ConnectionManager

    return ConnectionManager(**with_policy(config))


def with_policy(config: dict[str, Any]) -> dict[str, Any]:
    """``config`` with an ``overflow`` name replaced by the reference's policy object."""
    from tasktail.manager import CoalesceProgress, DropOldest, RejectNewest

    policies = {policy.name: policy for policy in (DropOldest, RejectNewest, CoalesceProgress)}
    if "overflow" in config:
        config = {**config, "overflow": policies[config["overflow"]]()}
    return config


reference_factory.tasktail_capabilities = frozenset({"seq"})  # type: ignore[attr-defined]


# -- generating ------------------------------------------------------------------------------

def vector_for(scenario: Scenario) -> dict[str, Any]:
    """The vector of ``scenario``: its steps and the reference's outcome (asyncio)."""
    setup = scenario.full_setup()
    body = {"setup": setup, "steps": [dict(s) for s in scenario.steps]}
    expect = expectation(play_sync(body, reference_factory), exact_time=scenario.exact_time)
    if scenario.alternatives:
        options = [{"grade": "PASS", **expect}]
        for alt in scenario.alternatives:
            other = expectation(play_sync({**body, "setup": {**setup, **alt.setup}}, reference_factory),
                                exact_time=scenario.exact_time)
            options.append({"grade": alt.grade, "why": alt.why, **other})
        expect = {"alternatives": options}
    return {"version": VERSION, "id": scenario.id, "rules": list(scenario.rules),
            "description": scenario.description, "profile": scenario.profile, **body, "expect": expect}


def dumps(vector: dict[str, Any]) -> str:
    """Stable, reviewable JSON: anything that fits on a line (a step, a frame, a result) is one."""
    return _fmt(vector, 0) + "\n"


def _fmt(value: Any, depth: int, width: int = 160) -> str:
    flat = json.dumps(value, ensure_ascii=False)
    if not isinstance(value, (dict, list)) or not value or len(flat) + 2 * depth <= width:
        return flat
    pad, inner = "  " * depth, "  " * (depth + 1)
    if isinstance(value, list):
        return "[\n" + ",\n".join(inner + _fmt(v, depth + 1) for v in value) + "\n" + pad + "]"
    return "{\n" + ",\n".join(f"{inner}{json.dumps(k, ensure_ascii=False)}: {_fmt(v, depth + 1)}"
                              for k, v in value.items()) + "\n" + pad + "}"


def generate(directory: Path = CORPUS) -> list[Path]:
    """Write one file per scenario (and remove files of scenarios that are gone)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for scenario in SCENARIOS:
        path = directory / f"{scenario.id}.json"
        path.write_text(dumps(vector_for(scenario)), encoding="utf-8")
        written.append(path)
    for stale in set(directory.glob("*.json")) - set(written):
        stale.unlink()
    return written


def load(directory: Path = CORPUS) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(directory.glob("*.json"))]


# -- running ---------------------------------------------------------------------------------

@dataclass
class Verdict:
    vector: str
    rules: list[str]
    backend: str
    grade: str
    problems: list[str] = field(default_factory=list)


def judge_mode(factory: Callable[..., Any]) -> bool:
    """True: judge by the seed's fields only (the factory claims capabilities and not ``seq``)."""
    claimed = getattr(factory, "tasktail_capabilities", None)
    return claimed is not None and "seq" not in claimed


class VectorError(ValueError):
    """A vector this runner cannot replay (another major version, an unknown step or
    behaviour): an error of the corpus or the runner, never a verdict on the manager."""


def check_vector(vector: dict[str, Any]) -> None:
    """Refuse a vector that does not follow ``schema.json`` (its version included)."""
    errors = validate(vector, load_schema(SCHEMA))
    if errors:
        raise VectorError(f"vector {vector.get('id', '?')!r} cannot be replayed by this runner ({VERSION}): "
                          + "; ".join(errors[:3]))


def run_vector(vector: dict[str, Any], factory: Callable[..., Any], backend: str) -> Verdict:
    check_vector(vector)  # before the manager runs: a bad vector is never blamed on it
    seed = judge_mode(factory)
    rules = vector["rules"]
    cannot = getattr(factory, "tasktail_cannot_run", None)
    reason = cannot(vector) if callable(cannot) else None
    if reason:  # the factory says why this vector cannot be played against it: never PASS
        return Verdict(vector["id"], rules, backend, "UNSUPPORTED", [reason])
    if seed and vector.get("profile") != "seed":
        return Verdict(vector["id"], rules, backend, "UNSUPPORTED", ["needs more than the seed's API"])
    try:
        outcome = play_sync(vector, factory, backend=backend, seed=seed)
    except Exception as exc:  # the manager broke the run itself (a crash, a task that spins)
        return Verdict(vector["id"], rules, backend, "FAIL", [f"the run crashed: {type(exc).__name__}: {exc}"])
    allowed = declared_differences(vector, factory, outcome)
    result, found = grade(vector["expect"], outcome, seed=seed)
    if result == "PASS" and allowed:
        return Verdict(vector["id"], rules, backend, "NON-STRICT", allowed)
    return Verdict(vector["id"], rules, backend, result, found)


def declared_differences(vector: dict[str, Any], factory: Callable[..., Any], outcome: dict[str, Any]) -> list[str]:
    """Apply what the factory declares about itself to ``outcome`` (in place) and return the
    NON-STRICT reasons it used.

    ``tasktail_producers_return = True``: ``send_log`` appends and returns; a writer
    delivers (PROD-1 lets a producer return before its message is written; the suite judges
    such a manager on what it delivers, not on when). A ``log`` step that returned where the
    reference's was still blocked on a held client matches; what is delivered is still
    compared frame by frame. No reason is given: this is PASS.
    ``tasktail_discarded_unknown = True``: ``disconnect`` cannot count what it discarded
    (it lives elsewhere, in Redis); its ``discarded`` answer is not compared (NON-STRICT)."""
    alternatives = vector["expect"].get("alternatives") or [vector["expect"]]
    reasons: list[str] = []
    for index, (step, got) in enumerate(zip(vector["steps"], outcome["steps"])):
        if got is None:
            continue
        wants = [a["steps"][index] for a in alternatives if a["steps"][index] is not None]
        if (step["op"] == "log" and getattr(factory, "tasktail_producers_return", False)
                and got.get("result") == "returned"):
            for want in wants:
                if want.get("result") == "blocked":
                    outcome["steps"][index] = dict(want)
                    break
        if (step["op"] == "disconnect" and getattr(factory, "tasktail_discarded_unknown", False)
                and "discarded" in got):
            for want in wants:
                if want.get("discarded") != got["discarded"]:
                    reasons.append(f"step {index + 1}: disconnect answered discarded={got['discarded']}, "
                                   f"the reference {want.get('discarded')}: not counted by this manager")
                    outcome["steps"][index] = dict(want)
                    break
    return reasons


def run(factory: Callable[..., Any], backends: Iterable[str], vectors: list[dict[str, Any]] | None = None,
        ) -> list[Verdict]:
    vectors = load() if vectors is None else vectors
    return [run_vector(v, factory, b) for v in vectors for b in backends]


def worst(grades: Iterable[str]) -> str:
    found = [g for g in grades if g != "UNSUPPORTED"] or ["UNSUPPORTED"]
    return max(found, key=GRADES.index)


def per_rule(verdicts: list[Verdict]) -> dict[str, str]:
    rules: dict[str, list[str]] = {}
    for v in verdicts:
        for rule in v.rules:
            rules.setdefault(rule, []).append(v.grade)
    return {rule: worst(grades) for rule, grades in sorted(rules.items())}
