"""The joint method of the additive areas on a synthetic joint problem, at a chosen slack penalty.

    python scripts/additive_probe.py [--records 3000] [--cells 20] [--areas 10] [--rho 1e6]

K areas over n records and J cells (shares from a Dirichlet draw; each area's targets its share
of the national total moved by up to 10%; box [0, 25]), every band with slack penalty rho in
relative units. Prints the method's iterations and seconds, then the joint certificate's
figures (docs/additive.md).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from goldstar.certificate.additive import certify_joint  # noqa: E402
from goldstar.solvers import get_solver  # noqa: E402
from goldstar.solvers.additive_core import JointData, run_joint  # noqa: E402

EPS = 0.005


def synthetic(n: int, J: int, K: int, seed: int = 0) -> tuple[JointData, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    A = sp.random(n, J, density=0.6, random_state=seed, data_rvs=lambda k: rng.uniform(0.5, 2.0, k)).tocsr()
    A = A[np.diff(A.indptr) > 0]
    w = rng.uniform(1.0, 3.0, A.shape[0])
    shares = rng.dirichlet(np.full(K, 3.0))
    t = shares[:, None] * (A.T @ w)[None, :] * (1.0 + 0.1 * rng.uniform(-1.0, 1.0, (K, J)))
    kept = np.ones((K, J), dtype=bool)
    ts = np.maximum(np.abs(t), 1.0)
    data = JointData(A=A, absA=abs(A), w=w, shares=shares, upper=np.full(K, 25.0), kept=kept, ts=ts)
    return data, ((t - EPS * abs(t)) / ts)[kept], ((t + EPS * abs(t)) / ts)[kept]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--cells", type=int, default=20)
    parser.add_argument("--areas", type=int, default=10)
    parser.add_argument("--rho", type=float, default=1e6)
    args = parser.parse_args(argv)
    data, l, u = synthetic(args.records, args.cells, args.areas)
    rho = np.full(data.N, args.rho)
    start = time.perf_counter()
    result = run_joint(data, l, u, [rho], dict(get_solver("band-newton").defaults))
    seconds = time.perf_counter() - start
    cert = certify_joint(data, l, u, rho, result.x, result.y, record_ids=np.arange(data.n),
                         areas=[f"A{a}" for a in range(data.K)], names=[f"t{j}" for j in range(data.N)])
    print(f"{data.K} areas x {data.n:,} records, {data.N} targets, rho {args.rho:g}: {result.message}; "
          f"{seconds:.1f} s")
    print(f"certificate {'passed' if cert.passed else 'FAILED'}: fixed point {cert.fixed_point_error:.3g}, "
          f"gap {cert.gap:.3g} (Q {cert.loss:.6g}), coupling {cert.coupling_residual:.3g}")
    for failure in cert.failures():
        print(f"  {failure}")
    return 0 if cert.passed else 1


if __name__ == "__main__":
    raise SystemExit(main())
