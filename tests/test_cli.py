"""The command line: help, usage errors and exit codes (DESIGN.md §6)."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from pipeline.cli import app

runner = CliRunner()


def test_help_lists_every_subcommand() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("sample", "check", "scan", "serve", "users"):
        assert command in result.output


def test_unknown_option_is_a_usage_error_with_exit_code_2() -> None:
    result = runner.invoke(app, ["scan", "--no-such-option"])
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_console_script_runs_as_module() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pipeline.cli", "--help"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 0
    assert "kansenkaart" in proc.stdout.lower()
