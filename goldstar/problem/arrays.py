"""What an objective needs of a problem: its arrays, bounds and target names.

goldstar.problem.model.Problem has them all; the objectives (goldstar.problem.objectives)
name this protocol instead of the class, so that the class may import the objectives.
"""

from __future__ import annotations

from typing import Protocol, Sequence

import numpy as np
import scipy.sparse as sp


class ProblemArrays(Protocol):
    """A (n x J, CSR), the starting weights w0 (n), the targets t (J), the multiplier box and
    the target names."""

    A: sp.csr_matrix
    w0: np.ndarray
    t: np.ndarray
    lower: float
    upper: float
    target_names: Sequence[str]
