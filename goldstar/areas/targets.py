"""Area targets by SOI shares, so that the areas add up to the nation.

For an area a and a cell j (goldstar.areas.recipe) with SOI value S_a(j) (goldstar.areas.sharing:
the cell's SOI columns over the AGI stubs of its bin):

    t_aj = T_j x S_a(j) / sum over the 51 areas of S(j)

T_j = sum_i w_i A_ij, the national weighted total of the cell under the
national reference weights; S the SOI state table (or a synthetic split of
it, which keeps every state's sum). Summed over any complete set of areas
(the 51 states, all districts, all N synthetic areas), the targets give T_j
back, to rounding.

The population share, which scales the national weights into an area's
starting weights, is the SOI count of individuals (column N2):
pop_share_a = N2_a / sum over the 51 areas of N2. (TMD takes the Census
population; the SOI count is what the vendored table has, and the shares of
the two differ by well under a percent for states.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from ..exceptions import InputError
from .inputs import POPULATION_COLUMN, STATES, NationalData
from .sharing import Sharing, read_sharing, soi_stubs, soi_values
from .spec import Cell
from .synthetic import APPORTIONMENT_2020, allocate, district_names, split_states, synthetic_names

KINDS = ("state", "district", "synthetic")
DEFAULT_SEED = 20260101


@dataclass(frozen=True, eq=False)
class AreaSpec:
    """One area: its name, kind, targets (aligned with the national cells) and population share."""

    name: str
    kind: str  # state | district | synthetic
    state: str
    pop_share: float
    targets: np.ndarray
    soi_values: np.ndarray
    synthetic: bool

    @property
    def label(self) -> str:
        return {"state": "state (IRS SOI 2022)", "district": "synthetic district",
                "synthetic": "synthetic area"}[self.kind]


def state_cell_values(soi: pd.DataFrame, national: NationalData, sharing: Sharing) -> tuple[np.ndarray, np.ndarray]:
    """(51 x K SOI values of the national cells, 51 populations N2), states in STATES order."""
    values = np.empty((len(STATES), len(national.cells)))
    for j, cell in enumerate(national.cells):
        where = f"recipe cell {cell.name}"
        values[:, j] = soi_values(soi, list(STATES), cell, sharing.columns(cell, where), where)
    population = soi[POPULATION_COLUMN].xs(0, level="AGI_STUB").reindex(list(STATES)).to_numpy()
    return values, population


def split_stub(cell: Cell) -> int:
    """The AGI stub whose income tilt and noise a cell takes in a synthetic split
    (goldstar.areas.synthetic): its own, the highest for a cell over several stubs."""
    return max(soi_stubs(cell, f"recipe cell {cell.name}"))


def area_targets(totals: np.ndarray, values: np.ndarray, denominators: np.ndarray) -> np.ndarray:
    """t = T x S / sum S (module docstring), 0 where the SOI sum is 0; rows are areas."""
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(denominators != 0, values / denominators, 0.0)
    return totals[None, :] * share


def parse_area_set(text: str) -> tuple[str, object]:
    """`states`, `districts`, `districts:ST[,ST...]` (every district of those states),
    `synthetic:N`, or a comma list of states / district names.

    Returns (kind, argument); InputError names what is wrong.
    """
    text = text.strip()
    if text == "states":
        return "states", None
    if text == "districts":
        return "districts", None
    if text.startswith("districts:"):
        states = [s.strip().upper() for s in text.split(":", 1)[1].split(",") if s.strip()]
        unknown = [s for s in states if s not in STATES]
        if not states or unknown:
            raise InputError("`--areas districts:ST`: give states like districts:CA,TX ("
                             + (f"unknown {', '.join(unknown[:5])})" if unknown else "none given)"))
        return "list", [d.upper() for s in dict.fromkeys(states) for d in district_names(s)]
    if text.startswith("synthetic:"):
        raw = text.split(":", 1)[1]
        try:
            count = int(raw)
        except ValueError:
            raise InputError(f"`--areas synthetic:N` needs a whole number N, got {raw!r}") from None
        if count < 1:
            raise InputError(f"`--areas synthetic:N` needs N >= 1, got {count}")
        return "synthetic", count
    names = [x.strip().upper() for x in text.split(",") if x.strip()]
    if not names:
        raise InputError("`--areas` is empty; give states, districts, synthetic:N or a list like AL,CA,NY")
    known_districts = {d.upper() for s in STATES for d in district_names(s)}
    unknown = [x for x in names if x not in STATES and x not in known_districts]
    if unknown:
        raise InputError(
            f"`--areas`: unknown area(s) {', '.join(unknown[:5])}; areas are the 50 states and DC "
            "(AL ... WY), synthetic districts like AL01-SYN, or the sets states, districts, synthetic:N"
        )
    return "list", list(dict.fromkeys(names))


def area_names(text: str) -> list[str]:
    """The names of the areas an area set (parse_area_set) holds, without building them."""
    kind, arg = parse_area_set(text)
    if kind == "states":
        return list(STATES)
    if kind == "districts":
        return [d.upper() for s in STATES for d in district_names(s)]
    if kind == "synthetic":
        return [n.upper() for n in synthetic_names(int(arg))]
    return list(arg)


def make_areas(text: str, soi: pd.DataFrame, national: NationalData, sharing: Sharing | None = None,
               seed: int = DEFAULT_SEED) -> list[AreaSpec]:
    """The AreaSpecs of an area set (parse_area_set), targets by SOI shares (`sharing`: the
    shipped table unless given)."""
    kind, arg = parse_area_set(text)
    sharing = sharing if sharing is not None else read_sharing()
    values, population = state_cell_values(soi, national, sharing)
    denominators = values.sum(axis=0)
    pop_total = population.sum()
    stubs = np.array([split_stub(c) for c in national.cells])
    kinds = np.array(["amount" if c.is_amount else "count" for c in national.cells])

    def state_areas(states) -> list[AreaSpec]:
        index = [STATES.index(s) for s in states]
        t = area_targets(national.totals, values[index], denominators)
        return [AreaSpec(s, "state", s, float(population[i] / pop_total), t[k], values[i], False)
                for k, (s, i) in enumerate(zip(states, index))]

    def split_areas(counts: dict[str, int], style: str, names_of) -> list[AreaSpec]:
        split = split_states(values, population, counts, stubs, kinds, seed, style)
        out = []
        for state in STATES:
            if state not in split:
                continue
            v, pop = split[state]
            t = area_targets(national.totals, v, denominators)
            for k, name in enumerate(names_of(state)):
                out.append(AreaSpec(name, "district" if style == "district" else "synthetic", state,
                                    float(pop[k] / pop_total), t[k], v[k], True))
        return out

    if kind == "states":
        return state_areas(list(STATES))
    if kind == "districts":
        return split_areas(APPORTIONMENT_2020, "district", district_names)
    if kind == "synthetic":
        counts = dict(zip(STATES, allocate(int(arg), population)))
        names = iter(synthetic_names(int(arg)))
        per_state = {s: [next(names) for _ in range(counts[s])] for s in STATES}
        return split_areas(counts, "synthetic", lambda s: per_state[s])
    states = [x for x in arg if x in STATES]
    districts = [x for x in arg if x not in STATES]
    out = {a.name: a for a in state_areas(states)} if states else {}
    if districts:
        for a in split_areas(APPORTIONMENT_2020, "district", district_names):
            if a.name.upper() in districts:
                out[a.name.upper()] = a
    return [out[x] for x in arg]
