"""Language-neutral test vectors: one JSON file per scenario, generated from the reference.

* :data:`SCENARIOS` - the scenario definitions (steps and setup), in ``_scenarios.py``.
* ``python -m tasktail.vectors generate`` - runs each against the reference on virtual time
  and writes ``corpus/*.json`` (format: ``schema.json``, ``VERSION``).
* ``python -m tasktail.vectors run [--factory MODULE:FACTORY]`` - replays the corpus on
  asyncio and trio and prints PASS / NON-STRICT / FAIL per vector and per rule.
* README.md here is the vector runner contract any port's runner follows.
"""

from ._corpus import (CORPUS, SCHEMA, VERSION, Verdict, dumps, generate, load, per_rule, reference_factory, run,
                      run_vector, vector_for)
from ._judge import expectation, grade, problems
from ._play import CLOCK_BASE, play, play_sync
from ._scenarios import SCENARIOS, Scenario
from ._schema import validate

__all__ = ["CLOCK_BASE", "CORPUS", "SCENARIOS", "SCHEMA", "Scenario", "VERSION", "Verdict", "dumps", "expectation",
           "generate", "grade", "load", "per_rule", "play", "play_sync", "problems", "reference_factory", "run",
           "run_vector", "validate", "vector_for"]
