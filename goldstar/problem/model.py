"""The reweighting problem's data, with the objective chosen for it.

Records i = 1..n carry initial weights w0_i > 0 and a record_id; targets
j = 1..J carry values t_j and names; A_ij is record i's contribution to target
j; multipliers m_i lie in [lower, upper] and final weights are w0 * m. What to
minimize is the objective's (goldstar.problem.objectives: `penalized`, the notes'
penalized least squares of docs/penalized.md, or `band`, TMD's band QP of
docs/band.md); `Problem.form` holds the objective's derived data and loss,
and each objective's module holds its math.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any, Sequence

import numpy as np
import scipy.sparse as sp

from ..exceptions import InputError
from ..hashing import arrays_hash
from . import validate
from .objectives import OBJECTIVES, Objective, Penalized
from ..defaults import DEFAULT_LOWER, DEFAULT_PENALTY, DEFAULT_UPPER
__all__ = ["DEFAULT_LOWER", "DEFAULT_PENALTY", "DEFAULT_UPPER", "Problem"]


def check_objective(objective: Any) -> None:
    """InputError unless `objective` is an objective object (a name is goldstar.reweight's)."""
    if not isinstance(objective, tuple(OBJECTIVES.values())):
        raise InputError(f"objective must be an objective of goldstar.problem.objectives ("
                         f"{', '.join(cls.__name__ + '(...)' for cls in OBJECTIVES.values())}), got {objective!r}"
                         " (a name such as 'band' is goldstar.reweight's objective argument)")


def check_problem(problem: Any, where: str) -> None:
    """InputError unless `problem` is a Problem (goldstar.Problem.from_arrays, goldstar.read_problem)."""
    if not isinstance(problem, Problem):
        raise InputError(f"{where}: problem must be a goldstar Problem (Problem.from_arrays, read_problem), "
                         f"got {type(problem).__name__}")


@dataclass(frozen=True, eq=False)
class Problem:
    """A validated reweighting problem. Build it with `Problem.from_arrays`."""

    A: sp.csr_matrix
    w0: np.ndarray
    t: np.ndarray
    lower: float
    upper: float
    record_ids: np.ndarray
    target_names: tuple[str, ...]
    objective: Objective = field(default_factory=Penalized)

    @property
    def n(self) -> int:
        """Number of records."""
        return self.A.shape[0]

    @property
    def J(self) -> int:
        """Number of targets."""
        return self.A.shape[1]

    @property
    def nnz(self) -> int:
        return int(self.A.nnz)

    @cached_property
    def form(self) -> Any:
        """The objective's derived data and loss (PenalizedForm or BandForm)."""
        return self.objective.form(self)

    @property
    def penalty(self) -> float:
        """The penalized objective's penalty (an InputError for another objective)."""
        return self.penalized.penalty

    @property
    def penalized(self) -> Any:
        """The PenalizedForm; an InputError naming the objective when it is another."""
        if not isinstance(self.objective, Penalized):
            raise InputError(f"this needs the penalized objective; the problem's is {self.objective.name!r}")
        return self.form

    @classmethod
    def from_arrays(
        cls,
        A: sp.spmatrix | np.ndarray,
        w0: Sequence[float] | np.ndarray,
        t: Sequence[float] | np.ndarray,
        *,
        objective: Objective | None = None,
        penalty: float | None = None,
        lower: float = DEFAULT_LOWER,
        upper: float = DEFAULT_UPPER,
        record_ids: Sequence[int] | np.ndarray | None = None,
        target_names: Sequence[str] | None = None,
    ) -> "Problem":
        """Validate the data and the objective (default: penalized with `penalty`).

        Raises InputError naming the first thing wrong: NaN or inf, a weight
        <= 0, mismatched shapes, no targets, duplicate target names, a target
        no record contributes to, lower >= upper, bounds the objective does
        not allow, or a parameter out of range.
        """
        if objective is None:
            objective = Penalized(DEFAULT_PENALTY if penalty is None else penalty)
        elif penalty is not None:
            raise InputError("give `penalty` through the objective (Penalized(penalty)), not beside it")
        check_objective(objective)
        lower, upper = validate.check_bounds(lower, upper)
        objective.check_bounds(lower, upper)
        A = validate.as_csr(A)
        n, J = A.shape
        w0 = validate.as_float_vector(w0, "w0")
        t = validate.as_float_vector(t, "targets")
        if J == 0:
            raise InputError("the problem has no targets (A has 0 columns)")
        if n == 0:
            raise InputError("the problem has no records (A has 0 rows)")
        if w0.shape[0] != n:
            raise InputError(f"w0 has {w0.shape[0]} entries but A has {n} rows (records)")
        if t.shape[0] != J:
            raise InputError(f"targets have {t.shape[0]} entries but A has {J} columns")
        bad_data = ~np.isfinite(A.data)
        if bad_data.any():
            k = int(np.flatnonzero(bad_data)[0])
            row = int(np.searchsorted(A.indptr, k, side="right") - 1)
            raise InputError(
                f"A has a non-finite value ({A.data[k]}) at record {row}, target {int(A.indices[k])}"
            )
        nonpositive = np.flatnonzero(w0 <= 0)
        if nonpositive.size:
            i = int(nonpositive[0])
            raise InputError(
                f"w0 must be > 0: record {i} has w0 = {w0[i]!r} "
                f"({nonpositive.size} record(s) with w0 <= 0)"
            )
        names = validate.target_names(target_names, J)
        ids = validate.record_ids(record_ids, n)

        column_nnz = np.bincount(A.indices[A.data != 0], minlength=J)
        empty = np.flatnonzero(column_nnz == 0)
        if empty.size:
            listed = ", ".join(repr(names[j]) for j in empty[:5])
            more = f" and {empty.size - 5} more" if empty.size > 5 else ""
            raise InputError(
                f"{empty.size} target(s) have no contributing record (an all-zero column of A): "
                f"{listed}{more}"
            )
        problem = cls(A=A, w0=w0, t=t, lower=lower, upper=upper, record_ids=ids,
                      target_names=names, objective=objective)
        problem.form  # the objective validates itself against the data now, not at first use
        return problem

    def with_objective(self, objective: Objective) -> "Problem":
        """The same data under another objective (or other parameters), validated."""
        check_objective(objective)
        objective.check_bounds(self.lower, self.upper)
        problem = replace(self, objective=objective)
        problem.form
        return problem

    # -- what every objective offers --------------------------------------------------

    def loss(self, m: np.ndarray) -> float:
        """The objective's value at m (see its module)."""
        self._sized(m, "loss")
        return self.form.loss(m)

    def pg(self, m: np.ndarray) -> float:
        """The objective's projected-gradient norm at m (reported beside the certificate)."""
        self._sized(m, "pg")
        return self.form.pg(m)

    def bound_violation(self, m: np.ndarray) -> float:
        """Largest amount by which m leaves [lower, upper]; 0 when feasible."""
        self._sized(m, "bound_violation")
        return float(max(0.0, np.max(self.lower - m), np.max(m - self.upper)))

    def fitted(self, m: np.ndarray) -> np.ndarray:
        """Weighted target totals sum_i w0_i m_i A_ij."""
        self._sized(m, "fitted")
        return self.A.T @ (self.w0 * m)

    def _sized(self, m: Any, where: str) -> None:
        """InputError unless m has one entry a record (its values are the caller's to check)."""
        size = np.shape(m)
        if size != (self.n,):
            raise InputError(f"{where}: m must have one entry a record ({self.n}), got shape {size}")

    def check_multipliers(self, m: np.ndarray, what: str = "m") -> np.ndarray:
        """Return m as a float64 vector of length n, or raise InputError saying why not."""
        m = validate.as_float_vector(m, what)
        if m.shape[0] != self.n:
            raise InputError(f"{what} has {m.shape[0]} entries but the problem has {self.n} records")
        return m

    def content_hash(self) -> str:
        """Hash of everything that defines the problem, by value (goldstar.hashing).

        A changes one value, a weight, a target, a name, a bound, the objective
        or one of its parameters: the hash changes. The same problem read from
        CSV or Parquet, on any machine: the same hash. (Penalized problems hash
        exactly as in the first release, which had no other objective.)
        """
        penalty = self.objective.penalty if isinstance(self.objective, Penalized) else 0.0
        return arrays_hash([
            ("record_id", self.record_ids),
            ("w0", self.w0),
            ("A.indptr", self.A.indptr.astype(np.int64)),
            ("A.indices", self.A.indices.astype(np.int64)),
            ("A.data", self.A.data),
            ("target", self.t),
            ("target_name", np.array(self.target_names, dtype=object)),
            ("penalty,lower,upper", np.array([penalty, self.lower, self.upper])),
            *self.objective.hash_items(),
        ])

    def permuted(self, record_order: np.ndarray, target_order: np.ndarray) -> "Problem":
        """The same problem with records and targets taken in the given orders."""
        A = self.A[record_order][:, target_order]
        return Problem.from_arrays(
            A, self.w0[record_order], self.t[target_order],
            objective=self.objective, lower=self.lower, upper=self.upper,
            record_ids=self.record_ids[record_order],
            target_names=[self.target_names[j] for j in target_order],
        )
