"""Exceptions of the package: one base class, :class:`AutomlKitError`, whose message is what the user needs
to see. Each subclass also derives from the built-in exception it refines (``ValueError``, ...)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

#: How many offending row numbers a problem lists at most.
MAX_ROWS_REPORTED = 5


class AutomlKitError(Exception):
    """Base class of every error this package raises on purpose."""


class SettingsError(AutomlKitError, ValueError):
    """A setting is missing or invalid; the message names the environment variable."""


class ParameterError(AutomlKitError, ValueError):
    """A training or scoring parameter is out of range; the message names it."""


class ModelError(AutomlKitError, ValueError):
    """A model cannot do what was asked (not binomial, no contributions, ...)."""


class ServiceError(AutomlKitError, RuntimeError):
    """Something outside the process (a JDK, an H2O cloud, the API) is missing or does not answer."""


class ServiceTimeout(ServiceError, TimeoutError):
    """A service did not become ready in time."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the input: which column, which rows (1-based data rows), what."""

    column: str | None
    message: str
    rows: list[int] = field(default_factory=list)
    count: int = 0

    def to_dict(self) -> dict:
        """JSON-ready form (what the API returns in its 4xx bodies)."""
        return asdict(self)

    def __str__(self) -> str:
        where = f"column '{self.column}'" if self.column else "file"
        if self.rows:
            more = f" (and {self.count - len(self.rows)} more)" if self.count > len(self.rows) else ""
            where += f", rows {', '.join(map(str, self.rows))}{more}"
        return f"{where}: {self.message}"


def make_problem(column: str | None, message: str, row_numbers: "list[int] | object") -> Problem:
    """A :class:`Problem` that keeps the first :data:`MAX_ROWS_REPORTED` row numbers and the total count."""
    rows = [int(r) for r in list(row_numbers)]
    return Problem(column=column, message=message, rows=rows[:MAX_ROWS_REPORTED], count=len(rows))


class DataContractError(AutomlKitError, ValueError):
    """The input does not satisfy the data contract; ``problems`` says where and why."""

    def __init__(self, problems: list[Problem], status: int = 422):
        self.problems = problems
        self.status = status
        super().__init__("; ".join(str(p) for p in problems))

    @property
    def about_rows(self) -> bool:
        """Every problem names rows (a bad value), none the whole input (a missing column)."""
        return all(p.rows for p in self.problems)

    def cuts(self, first_row: int, size: int) -> list[int]:
        """Where to split a failing batch of ``size`` rows numbered from ``first_row`` to isolate its bad rows
        (0-based positions, both ends included): around every row named when the problems name all their rows,
        else in the middle (a problem keeps only the first rows it names)."""
        named = {r - first_row for p in self.problems for r in p.rows}
        if all(p.count == len(p.rows) for p in self.problems) and named and all(0 <= i < size for i in named):
            return sorted({0, size, *named, *(i + 1 for i in named)})
        return [0, size // 2, size]

    def reason(self) -> str:
        """The problems without their row numbers: why one row was refused."""
        return "; ".join(str(Problem(p.column, p.message)) for p in self.problems)
