"""Slack-penalty rules: which of a recipe's cells price their slack other than the batch's M.

    uniform   every cell at the batch's M (`--slack-penalty`); the default
    tmd       TMD's pricing of congressional districts: M = 1e3 on the cells whose SOI figures
              map onto TMD's records with the most noise, every other cell at the batch's M.
              Those cells are the e00300, e02400 and e26270 amounts with AGI under $25,000 (the
              bin's upper edge at most 25,000) and the counts of all returns by filing status
              (count 1, fstatus above 0) with AGI under $10,000. TMD's batch
              (tmd/areas/batch_weights.py) applies it to areas whose multiplier cap is above
              25, its districts; `--slack-penalty-rule tmd` applies it to whatever batch asks.

The rule's 1e3 is in the batch's slack units (TMD's are target units, the default). A rule
fills each area's per-target penalties before its rows of the overrides file, so an override
of a cell's M wins. The per-target penalties are part of each area's settings, and so of its
input hash: a batch under `uniform` hashes as it did before rules existed, and a batch or
reference that records no rule was made under `uniform`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable

from ..exceptions import InputError

if TYPE_CHECKING:  # the command line reads RULES before it loads numpy and pandas (goldstar.areas.spec)
    from .spec import Cell

REDUCED_PENALTY = 1e3  # TMD's M for the noisy cells (its AREA_REDUCED_SLACK_PENALTY)
NOISY_AMOUNTS = ("e00300", "e02400", "e26270")  # interest, social security, partnership and S-corp
NOISY_AMOUNT_AGI = 25_000.0  # an amount cell is noisy when its AGI bin ends at or below this
NOISY_COUNT_AGI = 10_000.0  # a filing-status count cell, likewise


def _tmd_noisy(cell: Cell) -> bool:
    if cell.varname in NOISY_AMOUNTS and cell.count == 0:
        return cell.agihi <= NOISY_AMOUNT_AGI
    return cell.count == 1 and cell.fstatus > 0 and cell.agihi <= NOISY_COUNT_AGI


# each rule: which cells take REDUCED_PENALTY instead of the batch's M
RULES: dict[str, Callable[[Cell], bool]] = {
    "uniform": lambda cell: False,
    "tmd": _tmd_noisy,
}
DEFAULT_RULE = "uniform"
# what a batch or a reference made before the rules existed records of them: nothing, and it was
# made under the default (goldstar.areas.output.check_settings, goldstar.areas.reference)
SETTINGS_BEFORE_RULES = {"slack_penalty_rule": DEFAULT_RULE}


def rule_penalties(rule: str, cells: Iterable[Cell]) -> tuple[tuple[str, float], ...]:
    """(cell name, M) for each cell that `rule` prices other than the batch's M, sorted by name
    (AreaSettings.slack_penalty_by_target's form)."""
    if rule not in RULES:
        raise InputError(f"slack-penalty rule {rule!r} is not one of {', '.join(RULES)}")
    reduced = RULES[rule]
    return tuple(sorted((cell.name, REDUCED_PENALTY) for cell in cells if reduced(cell)))
