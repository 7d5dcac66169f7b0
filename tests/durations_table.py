"""The durations tables of docs/testing.md from a run's JUnit XML (``make test`` writes
``test-artifacts/pytest.xml``): the slowest tests and each file's total, as Markdown.

    .venv/bin/python tests/durations_table.py test-artifacts/pytest.xml [--top 20]

A test's time is pytest's own (setup, call and teardown; a session fixture's cost falls on the first test
that asks for it).
"""

from __future__ import annotations

import argparse
import sys
import xml.etree.ElementTree as ET
from collections import defaultdict


def durations(path: str) -> list[tuple[str, str, float]]:
    """(file, test name, seconds) of every test case in the JUnit XML at ``path``."""
    cases = []
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")
        file = f"{module[-1] if module[-1].startswith('test_') else module[-2]}.py" if module[0] else "?"
        cases.append((file, case.get("name", "?"), float(case.get("time", 0))))
    return cases


def tables(cases: list[tuple[str, str, float]], top: int) -> str:
    """The slowest ``top`` tests and the per-file totals (largest first), as two Markdown tables."""
    lines = ["| test | seconds |", "| --- | ---: |"]
    for file, name, seconds in sorted(cases, key=lambda c: -c[2])[:top]:
        lines.append(f"| `{file}::{name}` | {seconds:.1f} |")
    per_file: dict[str, list[float]] = defaultdict(list)
    for file, _, seconds in cases:
        per_file[file].append(seconds)
    lines += ["", "| file | tests | seconds |", "| --- | ---: | ---: |"]
    for file, times in sorted(per_file.items(), key=lambda item: -sum(item[1])):
        lines.append(f"| `{file}` | {len(times)} | {sum(times):.1f} |")
    total = sum(c[2] for c in cases)
    lines.append(f"| all | {len(cases)} | {total:.1f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("junit_xml", nargs="+", help="JUnit XML files of one run (their cases are pooled)")
    parser.add_argument("--top", type=int, default=20, help="how many of the slowest tests (default 20)")
    args = parser.parse_args(argv)
    cases = [case for path in args.junit_xml for case in durations(path)]
    print(tables(cases, args.top))
    return 0


if __name__ == "__main__":
    sys.exit(main())
