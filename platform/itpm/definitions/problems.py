"""What is wrong with a definition, and where: a file, a JSON pointer and a message."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, order=True)
class Problem:
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}" if self.file else f"{self.path}: {self.message}"

    def as_json(self) -> dict[str, str]:
        data = {"path": self.path, "message": self.message}
        if self.file:
            data["file"] = self.file
        return data


class DefinitionError(Exception):
    """Definitions refused as a whole; `problems` names every error."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems = sorted(set(problems), key=_reading_order)
        super().__init__("\n".join(str(p) for p in self.problems))

    def as_json(self) -> list[dict[str, str]]:
        return [p.as_json() for p in self.problems]


def _reading_order(problem: Problem) -> tuple[str, list[str], str]:
    return (problem.file, problem.path.split("/"), problem.message)


def pointer(parts: Iterable[Any]) -> str:
    """The JSON pointer (RFC 6901) of a path; the whole document is '/'."""
    escaped = [str(p).replace("~", "~0").replace("/", "~1") for p in parts]
    return "/" + "/".join(escaped) if escaped else "/"


def raise_if(problems: Sequence[Problem]) -> None:
    if problems:
        raise DefinitionError(problems)
