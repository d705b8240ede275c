"""Suite-wide hooks: the outside programs the real-client tests ran with (QGIS, the system's
GDAL), listed at the end of the run, so a CI log says which versions were tested.

A test names one with ``record_property("ran_with", "QGIS 3.22.16 …")`` (or
``request.node.user_properties``); pytest-xdist hands the properties of its workers' reports to
the controller, where they are gathered here."""

from __future__ import annotations

import pytest

#: The user-property key of an outside program's name and version.
RAN_WITH = "ran_with"

_ran_with: dict[str, None] = {}  # insertion-ordered set


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:
        for key, value in report.user_properties:
            if key == RAN_WITH:
                _ran_with.setdefault(str(value))


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if _ran_with:
        terminalreporter.write_sep("-", "real clients the passing tests ran with")
        for line in _ran_with:
            terminalreporter.write_line(line)
