"""Error hierarchy of the pipeline.

Every user-facing problem is a :class:`Problem` (where + what + how to fix). Readers and
validators collect problems and raise one :class:`InputError` that lists them all; the CLI
turns an :class:`KansenkaartError` into a message on stderr and exit code 2, without a
traceback. Anything else is an internal error (exit code 1).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Problem:
    """One problem with the input, located as precisely as we can.

    Attributes
    ----------
    message
        What is wrong, in plain words.
    fix
        How to fix it (an instruction to the user).
    file, layer, column, row
        Where it is; any may be ``None``.
    source
        The ``sources.yaml`` key (``parcels``, ``buildings``, …) the file belongs to.
    """

    message: str
    fix: str = ""
    file: str | None = None
    layer: str | None = None
    column: str | None = None
    row: str | int | None = None
    source: str | None = None

    def location(self) -> str:
        parts = []
        if self.source:
            parts.append(f"[{self.source}]")
        if self.file:
            parts.append(str(self.file))
        if self.layer:
            parts.append(f"layer '{self.layer}'")
        if self.column:
            parts.append(f"column '{self.column}'")
        if self.row is not None:
            parts.append(f"row {self.row}")
        return " ".join(parts)

    def __str__(self) -> str:
        loc = self.location()
        text = f"{loc}: {self.message}" if loc else self.message
        if self.fix:
            text += f"\n    fix: {self.fix}"
        return text


class KansenkaartError(Exception):
    """Base class of every error the user can act on (CLI exit code 2)."""


class InputError(KansenkaartError):
    """Bad input: one or more problems, all collected before raising."""

    def __init__(self, problems: Iterable[Problem] | Problem | str, *, title: str | None = None):
        if isinstance(problems, str):
            problems = [Problem(problems)]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: list[Problem] = list(problems)
        self.title = title or (
            f"{len(self.problems)} problem(s) in the input"
            if len(self.problems) != 1
            else "1 problem in the input"
        )
        super().__init__(self.format())

    def format(self) -> str:
        lines = [self.title + ":"]
        lines += [f"  - {p}" for p in self.problems]
        return "\n".join(lines)


class ConfigError(KansenkaartError):
    """A scan configuration (YAML) that does not validate."""


class UsageError(KansenkaartError):
    """Wrong command-line usage."""


@dataclass
class ProblemCollector:
    """Collects problems across a stage, then raises them all at once."""

    problems: list[Problem] = field(default_factory=list)

    def add(self, message: str, fix: str = "", **where: object) -> None:
        self.problems.append(Problem(message, fix, **where))  # type: ignore[arg-type]

    def extend(self, problems: Iterable[Problem]) -> None:
        self.problems.extend(problems)

    def __bool__(self) -> bool:
        return bool(self.problems)

    def raise_if_any(self, title: str | None = None) -> None:
        if self.problems:
            raise InputError(self.problems, title=title)
