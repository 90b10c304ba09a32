"""The augmented QP form that OSQP and Clarabel solve (the notes' reformulation).

Variables x = [m (n); r (J)] with r = B^T m - c as an equality constraint, so
the Hessian is diagonal instead of a dense n x n B B^T:

    minimize   ||r||^2 + sum_i lam_i (m_i - 1)^2
             = 1/2 x^T P x + q^T x + const,   P = diag(2 lam, 2), q = [-2 lam; 0]
    subject to B^T m - r = c,   lower <= m <= upper.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from ..problem.model import Problem


@dataclass(frozen=True)
class AugmentedQP:
    P: sp.csc_matrix
    q: np.ndarray
    E: sp.csc_matrix  # equality rows [B^T, -I]
    n: int
    J: int


def augmented_qp(problem: Problem) -> AugmentedQP:
    n, J = problem.n, problem.J
    P = sp.diags(np.concatenate([2.0 * problem.penalized.lam, np.full(J, 2.0)])).tocsc()
    q = np.concatenate([-2.0 * problem.penalized.lam, np.zeros(J)])
    E = sp.hstack([problem.penalized.B.T.tocsc(), -sp.identity(J, format="csc")], format="csc")
    return AugmentedQP(P=P, q=q, E=E, n=n, J=J)
