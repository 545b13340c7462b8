"""A conformance report as JUnit XML (one test case per rule)."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._suite import ConformanceReport

__all__ = ["write_junit"]


def write_junit(report: ConformanceReport, path: str) -> None:
    outcomes = list(report.outcomes.values())
    suite = ET.Element("testsuite", name="tasktail-conform", tests=str(len(outcomes)),
                       failures=str(sum(o.status == "FAIL" for o in outcomes)),
                       skipped=str(sum(o.status == "UNSUPPORTED" for o in outcomes)), time=f"{report.seconds:.3f}")
    for o in outcomes:
        case = ET.SubElement(suite, "testcase", classname=report.subject, name=o.rule)
        if o.status == "FAIL":
            ET.SubElement(case, "failure", message=o.detail).text = o.counterexample or o.detail
        elif o.status == "UNSUPPORTED":
            ET.SubElement(case, "skipped", message=o.detail)
        elif o.status == "NON-STRICT":
            ET.SubElement(case, "system-out").text = f"NON-STRICT: {o.detail}"
    ET.ElementTree(suite).write(path, encoding="unicode", xml_declaration=True)
