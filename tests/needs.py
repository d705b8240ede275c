"""What a test needs from the machine, and what happens when it is missing.

On a developer machine a missing part (Chromium, PostgreSQL, QGIS, a built web page, …) skips the
test with a clear reason. In CI (``.ci/run`` sets ``KANSENKAART_CI=1``) every part is installed on
purpose, so a missing or broken part is a failure, never a silent skip.

The real Dutch datasets in ``../shared/data/real`` are different: CI runs on a clean clone without
them, so tests that read them use a plain ``pytest.skip`` (marked ``real``), not :func:`need`.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest

IN_CI = os.environ.get("KANSENKAART_CI") == "1"


def need(reason: str) -> NoReturn:
    """Skip with ``reason`` on a developer machine; fail with it in CI."""
    if IN_CI:
        pytest.fail(f"required in CI, but missing or broken: {reason}", pytrace=False)
    pytest.skip(reason)
