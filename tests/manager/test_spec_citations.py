"""Every rule ID a docstring or comment under tasktail/ cites exists in SPEC.md."""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

from tests.test_spec import spec_rules

ROOT = Path(__file__).resolve().parents[2]
CITATION = re.compile(r"\b([A-Z]{2,6})-(\d+|\*)(?![\w-])")
NOT_RULES = {"ISO", "UTF", "RFC", "SHA"}  # standards, not rule families


def citations() -> list[tuple[str, int, str]]:
    found = []
    for path in sorted((ROOT / "tasktail").rglob("*.py")):
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text()).readline)
        for token in tokens:
            if token.type in (tokenize.COMMENT, tokenize.STRING):
                for match in CITATION.finditer(token.string):
                    if match.group(1) not in NOT_RULES:
                        found.append((str(path.relative_to(ROOT)), token.start[0], match.group(0)))
    return found


def test_every_cited_rule_exists_in_spec():
    rules = set(spec_rules())
    families = {rule.split("-")[0] for rule in rules}
    assert len(citations()) > 100  # the scan sees the code base
    bad = [f"{path}:{line}: {cited}" for path, line, cited in citations()
           if (cited.split("-")[0] not in families if cited.endswith("*") else cited not in rules)]
    assert bad == []
