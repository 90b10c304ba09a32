"""The checks a Problem's arrays pass when it is made (goldstar.problem.model.Problem.from_arrays):
each turns what the caller gave into the array the Problem holds, or raises an InputError that
names what is wrong and where."""

from __future__ import annotations

from collections import Counter
from typing import Sequence

import numpy as np
import scipy.sparse as sp

from ..exceptions import InputError


def check_bounds(lower: float, upper: float) -> tuple[float, float]:
    """The multiplier box, two finite numbers with lower < upper."""
    values = {}
    for name, value in (("lower", lower), ("upper", upper)):
        if isinstance(value, bool):
            raise InputError(f"`{name}` must be a number, got {value!r}")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise InputError(f"`{name}` must be a number, got {value!r}") from None
        if not np.isfinite(v):
            raise InputError(f"`{name}` must be finite, got {v!r}")
        values[name] = v
    if values["lower"] >= values["upper"]:
        raise InputError(
            f"`lower` must be < `upper`, got lower={values['lower']!r}, upper={values['upper']!r}"
        )
    return values["lower"], values["upper"]


def as_csr(A: sp.spmatrix | np.ndarray) -> sp.csr_matrix:
    """A as a float64 CSR copy, finite, duplicates summed, explicit zeros gone, indices sorted."""
    if sp.issparse(A):
        out = sp.csr_matrix(A, dtype=np.float64, copy=True)
    else:
        arr = np.asarray(A, dtype=np.float64)
        if arr.ndim != 2:
            raise InputError(f"A must be a 2-D matrix, got {arr.ndim} dimension(s)")
        if not np.all(np.isfinite(arr)):
            i, j = np.argwhere(~np.isfinite(arr))[0]
            raise InputError(f"A has a non-finite value ({arr[i, j]}) at record {i}, target {j}")
        out = sp.csr_matrix(arr)
    out.sum_duplicates()
    out.eliminate_zeros()
    out.sort_indices()
    return out


def as_float_vector(values: Sequence[float] | np.ndarray, what: str) -> np.ndarray:
    """A flat float64 vector with every value finite."""
    if values is None:
        raise InputError(f"{what} must be numeric, got None")
    try:
        arr = np.array(values, dtype=np.float64).ravel()
    except (TypeError, ValueError) as exc:
        raise InputError(f"{what} must be numeric: {exc}") from None
    bad = np.flatnonzero(~np.isfinite(arr))
    if bad.size:
        raise InputError(
            f"{what} has a non-finite value ({arr[bad[0]]}) at position {int(bad[0])} "
            f"({bad.size} in all)"
        )
    return arr


def target_names(names: Sequence[str] | None, J: int) -> tuple[str, ...]:
    """J distinct target names; target_0 ... when none are given."""
    if names is None:
        return tuple(f"target_{j}" for j in range(J))
    names = tuple(str(x) for x in names)
    if len(names) != J:
        raise InputError(f"{len(names)} target names given for {J} targets")
    dupes = [name for name, k in Counter(names).items() if k > 1]
    if dupes:
        raise InputError(f"duplicate target names: {', '.join(repr(d) for d in dupes[:5])}")
    return names


def repeated_values(values: np.ndarray) -> np.ndarray:
    """The values that occur more than once (each once per extra occurrence), in sorted order.
    A sort finds them ~10x faster than np.unique's hashing on record ids."""
    ordered = np.sort(values)
    return ordered[1:][ordered[1:] == ordered[:-1]]


def record_ids(ids: Sequence[int] | np.ndarray | None, n: int) -> np.ndarray:
    """n distinct int64 record ids; 0 .. n-1 when none are given."""
    if ids is None:
        return np.arange(n, dtype=np.int64)
    arr = np.asarray(ids)
    if arr.shape != (n,):
        raise InputError(f"record_id has {arr.size} entries for {n} records")
    if not np.issubdtype(arr.dtype, np.integer):
        raise InputError(f"record_id must be integers, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    repeated = repeated_values(arr)
    if repeated.size:
        raise InputError(f"record_id has duplicate values (first: {int(repeated[0])})")
    return arr
