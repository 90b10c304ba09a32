"""TMD's national setup today, on the embedded CPS file: the band QP for 2022 against TMD's soi.csv,
the records aged to 2022 by Tax-Calculator (its own CPS weights and growfactors), the starting
weights prescaled to the SOI count of returns as TMD does; built and solved twice, by the
command line (`goldstar build` + `goldstar solve`) and by `goldstar.reweight`, and compared.

    python scripts/tmd_2022.py [--out benchmarks/tmd_2022.json]

Prints and writes: candidate and kept targets, drops by reason, the prescale, each step's
seconds, the certificate, and the largest difference between the two paths' weights.
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import goldstar  # noqa: E402
from goldstar.store.layout import read_problem  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
YEAR = 2022


def cli(*argv: str) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "goldstar", *argv], check=True, capture_output=True, text=True)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "tmd_2022.json")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        problem_dir, weights_file = Path(tmp) / "problem", Path(tmp) / "weights.parquet"
        build_seconds = cli("build", "--engine", "taxcalc", "--tc-aged", "--year", str(YEAR), "--objective", "band",
                            "--out", str(problem_dir))
        solve_seconds = cli("solve", str(problem_dir), "--out", str(weights_file))
        cli_weights = pd.read_parquet(weights_file)
        problem = read_problem(problem_dir)
        build = json.loads((problem_dir / "problem.json").read_text()).get("build", {})
        start = time.perf_counter()
        result = goldstar.reweight(None, None, year=YEAR, objective="band", engine="taxcalc", aged=True)
        api_seconds = time.perf_counter() - start
    by_id = cli_weights.set_index("record_id")["weight"].reindex(result.weights.index).to_numpy()
    figures = {
        "command": "python scripts/tmd_2022.py",
        "machine": f"{platform.machine()}, Python {platform.python_version()}",
        "year": YEAR, "records": int(problem.n), "targets_kept": int(len(result.dual) - len(result.dropped)),
        "targets_in_problem": int(len(result.dual)),
        "dropped_by_reason": result.dropped["reason"].value_counts().to_dict(),
        "build_metadata": {k: v for k, v in build.items() if not isinstance(v, (list, dict))},
        "cli_build_seconds": build_seconds, "cli_solve_seconds": solve_seconds, "api_seconds": api_seconds,
        "api_result_seconds": result.seconds, "certificate_passed": bool(result.certificate.passed),
        "problem_hash_equal": problem.content_hash() == result.problem_hash,
        "max_weight_difference_cli_vs_api": float(np.max(np.abs(by_id - result.weights.to_numpy()))),
        "bit_for_bit": bool(np.array_equal(by_id, result.weights.to_numpy())),
    }
    print(json.dumps(figures, indent=2, default=str))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2, default=str) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
