"""Synthetic areas for scale: seeded, documented, and labelled synthetic everywhere.

The IRS congressional-district table is not vendored here, so districts are
made up: each state is split into its number of seats in the 2020
apportionment (APPORTIONMENT_2020: 435 seats, plus DC's delegate seat, 436 in
all; a one-seat state's district is the whole state). `synthetic:N` splits the
nation into N areas of any size (N = 3,000 is about county-sized).

How a state's SOI values are split among its k areas (`split_state`):

1. Population shares p (k values summing to 1): Dirichlet(POP_CONCENTRATION x 1)
   for districts (near-equal, as the law makes them), Dirichlet(1) for
   synthetic areas (very unequal, like counties).
2. Each area gets an income tilt z_d ~ N(0, 1): rich and poor districts.
3. The share of cell c (a target family in an AGI stub) in area d is
       s_dc  proportional to  p_d exp(TILT[c] z_d + STUB_NOISE f_d,stub(c) + NOISE[c] e_dc),
   f, e ~ N(0, 1), normalised over the state's k areas, so the areas of a
   state add up to the state exactly, and all areas to the 51-area sum. TILT
   grows with the AGI stub (high-income returns concentrate in rich areas,
   low-income ones in poor areas); f moves every cell of one AGI stub
   together (an area has more or fewer returns in a stub, and their AGI,
   wages and filing statuses follow); NOISE (cell-specific) is what makes
   related cells disagree (single + joint + head-of-household returns no
   longer match the returns count, etc.), as real district data disagree with
   a reweighted national file. It is sized so that a batch meets drops, as
   TMD's does (~20% of its districts need some); how many it meets here is
   measured in docs/areas.md.
4. The population column N2 gets the shares p.

Every draw comes from numpy's default_rng([seed, state index]), so a state's
split does not depend on which other states are asked for.
"""

from __future__ import annotations

import numpy as np

from .inputs import STATES

APPORTIONMENT_2020 = {
    "AL": 7, "AK": 1, "AZ": 9, "AR": 4, "CA": 52, "CO": 8, "CT": 5, "DE": 1, "DC": 1, "FL": 28,
    "GA": 14, "HI": 2, "ID": 2, "IL": 17, "IN": 9, "IA": 4, "KS": 4, "KY": 6, "LA": 6, "ME": 2,
    "MD": 8, "MA": 9, "MI": 13, "MN": 8, "MS": 4, "MO": 8, "MT": 2, "NE": 3, "NV": 4, "NH": 2,
    "NJ": 12, "NM": 3, "NY": 26, "NC": 14, "ND": 1, "OH": 15, "OK": 5, "OR": 6, "PA": 17, "RI": 2,
    "SC": 7, "SD": 1, "TN": 9, "TX": 38, "UT": 4, "VT": 1, "VA": 11, "WA": 10, "WV": 2, "WI": 8,
    "WY": 1,
}
POP_CONCENTRATION = {"district": 400.0, "synthetic": 1.0}
# TILT by AGI stub 1..10 (0: all-AGI amounts): log-share change per unit of income tilt.
TILT_BY_STUB = {0: 0.3, 1: -0.2, 2: -0.3, 3: -0.25, 4: -0.1, 5: 0.0, 6: 0.1, 7: 0.25, 8: 0.5, 9: 0.7, 10: 0.8}
# STUB_NOISE: a stub's cells move together; NOISE (per cell): counts follow the
# stub closely, amounts less, the top stubs least.
STUB_NOISE = 0.05
NOISE_COUNT, NOISE_AMOUNT, NOISE_TOP = 0.002, 0.005, 0.02
SYNTHETIC_LABEL = "SYN"


def district_names(state: str) -> list[str]:
    """Names of a state's synthetic districts: AK00-SYN for an at-large seat, AL01-SYN ... otherwise."""
    k = APPORTIONMENT_2020[state]
    if k == 1:
        return [f"{state}00-{SYNTHETIC_LABEL}"]
    return [f"{state}{d:02d}-{SYNTHETIC_LABEL}" for d in range(1, k + 1)]


def synthetic_names(count: int) -> list[str]:
    width = max(5, len(str(count)))
    return [f"{SYNTHETIC_LABEL}-{d:0{width}d}" for d in range(1, count + 1)]


def allocate(count: int, population: np.ndarray) -> np.ndarray:
    """Split `count` areas among states in proportion to population (largest remainder),
    at least one a state when count >= the number of states."""
    population = np.asarray(population, dtype=np.float64)
    s = population.size
    base = np.ones(s, dtype=np.int64) if count >= s else np.zeros(s, dtype=np.int64)
    left = count - int(base.sum())
    quota = left * population / population.sum()
    extra = np.floor(quota).astype(np.int64)
    remainder = left - int(extra.sum())
    order = np.argsort(-(quota - extra), kind="stable")
    extra[order[:remainder]] += 1
    return base + extra


def cell_noise(stub: int, kind: str) -> float:
    if stub >= 9:
        return NOISE_TOP
    return NOISE_COUNT if kind == "count" else NOISE_AMOUNT


def split_state(
    values: np.ndarray, population: float, k: int, stubs: np.ndarray, kinds: np.ndarray,
    rng: np.random.Generator, style: str,
) -> tuple[np.ndarray, np.ndarray]:
    """Split one state's cell values (K) and population among k areas (module docstring).

    Returns (k x K values, k populations); each column sums to the state's value.
    """
    values = np.asarray(values, dtype=np.float64)
    if k == 1:
        return values[None, :].copy(), np.array([population])
    p = rng.dirichlet(np.full(k, POP_CONCENTRATION[style]))
    p = np.maximum(p, 1e-12)
    z = rng.standard_normal(k)
    tilt = np.array([TILT_BY_STUB[int(s)] for s in stubs])
    noise = np.array([cell_noise(int(s), str(kd)) for s, kd in zip(stubs, kinds)])
    f = rng.standard_normal((k, 11))[:, np.asarray(stubs, dtype=np.int64)]
    e = rng.standard_normal((k, values.size))
    log_share = np.log(p)[:, None] + tilt[None, :] * z[:, None] + STUB_NOISE * f + noise[None, :] * e
    log_share -= log_share.max(axis=0, keepdims=True)
    share = np.exp(log_share)
    share /= share.sum(axis=0, keepdims=True)
    return share * values[None, :], p * population


def split_states(
    state_values: np.ndarray, state_population: np.ndarray, counts: dict[str, int],
    stubs: np.ndarray, kinds: np.ndarray, seed: int, style: str,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Split every state with a count > 0: {state: (k x K values, k populations)}."""
    out = {}
    for index, state in enumerate(STATES):
        k = int(counts.get(state, 0))
        if k <= 0:
            continue
        rng = np.random.default_rng([int(seed), index])
        out[state] = split_state(state_values[index], float(state_population[index]), k, stubs, kinds, rng, style)
    return out
