"""A conformance report as JUnit XML: one test case per scripted check and backend, one per
rule's generated-program search, and one per distinct generated counterexample."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._report import ConformanceReport

__all__ = ["write_junit"]


def write_junit(report: ConformanceReport, path: str) -> None:
    suite = ET.Element("testsuite", name="tasktail-conform", time=f"{report.seconds:.3f}")
    counts = {"tests": 0, "failures": 0, "skipped": 0}

    def case(name: str, classname: str, *, failure: str | None = None, text: str = "",
             skipped: str | None = None) -> None:
        element = ET.SubElement(suite, "testcase", classname=classname, name=name)
        counts["tests"] += 1
        if failure is not None:
            ET.SubElement(element, "failure", message=failure[:500]).text = text or failure
            counts["failures"] += 1
        elif skipped is not None:
            ET.SubElement(element, "skipped", message=skipped)
            counts["skipped"] += 1

    for o in report.outcomes.values():
        classname = f"{report.subject}.{o.rule}"
        if o.status == "UNSUPPORTED":
            case(o.rule, classname, skipped=f"UNSUPPORTED: {o.detail}")
            continue
        for check, per_backend in o.check_results.items():
            for backend, result in per_backend.items():
                found = [f for f in o.findings if f.check == check and backend in (f.backends or [f.backend])]
                name = f"{check} [{backend}]"
                if found:
                    case(name, classname, failure=f"{found[0].kind}: {found[0].message}", text=found[0].reproduce)
                elif result.startswith(("unmet", "blocked", "cut short")):
                    case(name, classname, failure=f"{result.split(':')[0].upper()}: {result}")
                elif result == "n/a":
                    case(name, classname, skipped="not applicable: a capability it needs is not claimed")
                else:
                    case(name, classname)
        generated = [f for f in o.findings if f.program is not None]
        for n, f in enumerate(generated, 1):
            case(f"generated counterexample {n}: {f.kind} [{', '.join(f.backends or [f.backend])}]", classname,
                 failure=f"{f.kind}: {f.message}", text=f.reproduce)
        if o.examples_run and not generated:
            notes = [n for n in o.notes]
            case(f"generated programs ({o.examples_run})", classname,
                 failure=("INCOMPLETE: " + "; ".join(notes)) if notes else None)
    for key, value in counts.items():
        suite.set(key, str(value))
    ET.ElementTree(suite).write(path, encoding="unicode", xml_declaration=True)
