"""Seeded synthetic problems shaped like TMD's reweighting problem.

What makes the real problem hard, reproduced here:
- heavy-tailed initial weights (log-uniform over 3.5 decades), so lam, which
  goes as w0^2, spans about seven orders of magnitude;
- about ten nonzeros a record: each record sits in one income bin and one
  filing status, and contributes a count and its amounts to four groups of
  targets, as TMD's records do: (its bin, its status), (its bin, all
  statuses), (all incomes, its status) and (all incomes, all statuses);
- count targets (indicators) beside amount targets (heavy-tailed amounts);
- targets that disagree with the initial weights, some of them badly (a few
  cells asked for 25x or 1/25 of their initial total), so that a share of the
  multipliers sits on a bound at the optimum.
The same seed gives the same problem on every machine: only numpy's PCG64
generator and float64 arithmetic are used.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from ..exceptions import InputError
from ..defaults import DEFAULT_LOWER, DEFAULT_PENALTY, DEFAULT_UPPER
from ..problem.model import Problem

FILING_STATUSES = ("single", "joint", "separate", "head_of_household")
FILING_STATUS_SHARES = (0.45, 0.38, 0.03, 0.14)
# (name, share of records that have it, log-mean, log-sd of the amount)
VARIABLES = (
    ("employment_income", 0.70, 10.5, 1.0),
    ("taxable_interest_income", 0.35, 6.0, 2.0),
    ("ordinary_dividends", 0.20, 7.0, 2.2),
    ("business_net_profits", 0.12, 9.5, 1.5),
    ("total_pension_income", 0.15, 9.5, 1.2),
    ("total_social_security", 0.22, 9.8, 0.6),
    ("capital_gains_gross", 0.10, 8.5, 2.5),
    ("unemployment_compensation", 0.05, 8.0, 0.8),
)
SHARE_OF_BADLY_INCONSISTENT_CELLS = 0.04
INCONSISTENCY_FACTOR = 25.0


def synth_problem(
    records: int,
    targets: int,
    seed: int,
    *,
    penalty: float = DEFAULT_PENALTY,
    lower: float = DEFAULT_LOWER,
    upper: float = DEFAULT_UPPER,
) -> Problem:
    """Make a TMD-shaped problem with `records` records and exactly `targets` targets."""
    if records < 10:
        raise InputError(f"`records` must be at least 10, got {records}")
    if targets < 1:
        raise InputError(f"`targets` must be at least 1, got {targets}")
    rng = np.random.default_rng(seed)
    per_bin = (1 + len(FILING_STATUSES)) * (1 + len(VARIABLES))
    n_bins = max(1, -(-(targets - per_bin) // per_bin))
    w0, status, income_bin, values = synthetic_records(rng, int(records), n_bins)
    A, names, cell_column = synthetic_columns(values, status, income_bin, n_bins, targets)
    if len(names) < targets:
        raise InputError(
            f"{records} records fill only {len(names)} nonzero targets; ask for fewer targets "
            "or more records"
        )
    t = synthetic_targets(rng, A, w0, np.asarray(cell_column))
    return Problem.from_arrays(
        A, w0, t, penalty=penalty, lower=lower, upper=upper, target_names=names
    )


def synthetic_records(rng: np.random.Generator, n: int, n_bins: int
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(w0, filing status, income bin, values): n records' weights over 3.5 decades, a filing
    status each, an income rank that sets the bin, and a count column then VARIABLES' amounts."""
    w0 = 10.0 ** rng.uniform(0.0, 3.5, n)
    status = rng.choice(len(FILING_STATUSES), size=n, p=FILING_STATUS_SHARES)
    income_rank = rng.uniform(0.0, 1.0, n)
    income_bin = np.minimum((income_rank * n_bins).astype(np.int64), n_bins - 1)
    amounts = np.zeros((n, len(VARIABLES)))
    for v, (_, share, log_mean, log_sd) in enumerate(VARIABLES):
        has = rng.uniform(size=n) < share
        # richer bins get larger amounts, as incomes do
        scale = np.exp(log_mean + log_sd * rng.standard_normal(n) + 1.5 * (income_rank - 0.5))
        amounts[:, v] = np.where(has, np.round(scale), 0.0)
    values = np.concatenate([np.ones((n, 1)), amounts], axis=1)  # count first
    return w0, status, income_bin, values


def synthetic_columns(values: np.ndarray, status: np.ndarray, income_bin: np.ndarray, n_bins: int,
                      targets: int) -> tuple[sp.csr_matrix, list[str], list[bool]]:
    """(A, names, is_cell): up to `targets` nonzero columns, all incomes first, then each income
    bin, each for everyone and every filing status, and each of count and VARIABLES."""
    n = values.shape[0]
    rows: list[np.ndarray] = []
    cols: list[np.ndarray] = []
    vals: list[np.ndarray] = []
    names: list[str] = []
    cell_column: list[bool] = []
    labels = ("count",) + tuple(v[0] for v in VARIABLES)

    def add_column(members: np.ndarray, k: int, name: str, is_cell: bool) -> None:
        idx = np.flatnonzero(members & (values[:, k] != 0))
        if idx.size == 0 or len(names) >= targets:
            return
        rows.append(idx)
        cols.append(np.full(idx.size, len(names), dtype=np.int64))
        vals.append(values[idx, k])
        names.append(name)
        cell_column.append(is_cell)

    everyone = np.ones(n, dtype=bool)
    groups = [("all", everyone)] + [(fs, status == f) for f, fs in enumerate(FILING_STATUSES)]
    for fs, in_status in groups:
        for k, label in enumerate(labels):
            add_column(in_status, k, f"{label}/all incomes/{fs}", False)
    for b in range(n_bins):
        for fs, in_status in groups:
            for k, label in enumerate(labels):
                add_column((income_bin == b) & in_status, k, f"{label}/bin {b}/{fs}", True)
    if not names:
        return sp.csr_matrix((n, 0)), names, cell_column
    A = sp.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(n, len(names)),
    )
    return A, names, cell_column


def synthetic_targets(rng: np.random.Generator, A: sp.csr_matrix, w0: np.ndarray,
                      cell_column: np.ndarray) -> np.ndarray:
    """Targets a little above the sample's totals, with noise, and some cells badly inconsistent."""
    J = A.shape[1]
    initial = A.T @ w0
    noise = np.exp(0.15 * rng.standard_normal(J))
    t = initial * noise * 1.1  # the population grew: every target a little above the sample
    cells = np.flatnonzero(cell_column)
    bad = rng.uniform(size=cells.size) < SHARE_OF_BADLY_INCONSISTENT_CELLS
    direction = np.where(rng.uniform(size=cells.size) < 0.5, INCONSISTENCY_FACTOR, 1.0 / INCONSISTENCY_FACTOR)
    t[cells[bad]] *= direction[bad]
    return np.round(t)
