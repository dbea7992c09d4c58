"""A role as its grid edits it: record types by actions, each cell the rows it applies to, and the
field rules per record type. The role's JSON is already that grid, so the model is the JSON."""

from __future__ import annotations

import copy
from typing import Any


def model(body: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(body)


def document(model: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(model)
