"""Objectives: what "best weights" means for one problem's data, as a named choice.

A Problem (goldstar.problem.model) is the data: records, w0, targets, A and the
multiplier bounds. The objective says what to minimize over it, with its own
parameters, validation, loss, dual and certificate:

- `penalized` (objectives/penalized.py): the TMD notes' penalized least
  squares of docs/penalized.md;
- `band` (objectives/band.py): TMD's current band QP of docs/band.md, every
  target within +/- eps of its value, with elastic slack.

One registry, OBJECTIVES, names them; problem.json stores `objective` as
`{"name": ..., **parameters}` and a directory without that key reads as
`penalized` (the first release's layout).
"""

from __future__ import annotations

from typing import Any, Union

from ...exceptions import InputError
from .band import Band
from .penalized import Penalized

Objective = Union[Penalized, Band]
OBJECTIVES: dict[str, type] = {cls.name: cls for cls in (Penalized, Band)}


def objective_from_dict(data: Any, where: str = "objective") -> Objective:
    """An objective from its stored form, or an InputError naming what is wrong."""
    if not isinstance(data, dict):
        raise InputError(f"{where} must be a JSON object with a `name`, got {data!r}")
    name = data.get("name")
    if name not in OBJECTIVES:
        raise InputError(f"{where}: unknown objective {name!r}; objectives are {', '.join(OBJECTIVES)}")
    return OBJECTIVES[name].from_dict({k: v for k, v in data.items() if k != "name"}, where)


__all__ = ["Band", "OBJECTIVES", "Objective", "Penalized", "objective_from_dict"]
