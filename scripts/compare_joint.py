"""How far apart two solves of the same areas are: the largest difference of their multipliers,
area by area, relative to max(|m|, 1) (the scale of goldstar's verify rtol).

    python scripts/compare_joint.py bench-areas/within-NY bench-areas/within-NYPA/NY
    python scripts/compare_joint.py --separate OUT1 OUT2

Reads each directory's OUT/joint (goldstar areas --additive or --max-exhaustion E), or with
`--separate` the separate solves (OUT/m, the areas of OUT/summary.csv with status ok, each
checked against the hash its row records); prints one line a pair and exits 2 when either has
no such solves or their areas differ. Nothing is solved.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from goldstar.areas.joint_run import read_joint  # noqa: E402
from goldstar.areas.report import area_multipliers, read_area_row, read_records, read_summary  # noqa: E402
from goldstar.exceptions import InputError  # noqa: E402


def joint_multipliers(out: Path) -> dict[str, np.ndarray]:
    found = read_joint(out)
    if found is None:
        raise InputError(f"{out}: no joint solve (OUT/joint)")
    return found[1]


BATCH = "batch"  # how the readers' errors name a directory given here


def separate_multipliers(out: Path) -> dict[str, np.ndarray]:
    summary = read_summary(out, option=BATCH)
    n = read_records(out, option=BATCH)[0].size
    solved = summary.loc[summary["status"] == "ok", "area"]
    if solved.empty:
        raise InputError(f"{BATCH} {out}: no area with status ok in its summary.csv")
    return {area: area_multipliers(out, area, read_area_row(out, area, option=BATCH), n, option=BATCH)
            for area in solved}


def difference(first: Path, second: Path, separate: bool = False) -> tuple[float, str]:
    """(the largest |m1 - m2| / max(|m2|, 1) over every area and record, the area where it is)."""
    read = separate_multipliers if separate else joint_multipliers
    m1, m2 = read(first), read(second)
    if sorted(m1) != sorted(m2):
        raise InputError(f"{first} and {second} hold other areas: {sorted(m1)[:5]} ... and {sorted(m2)[:5]} ...")
    worst = {area: float(np.max(np.abs(m1[area] - m2[area]) / np.maximum(np.abs(m2[area]), 1.0))) for area in m2}
    area = max(worst, key=worst.get)
    return worst[area], area


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    parser.add_argument("--separate", action="store_true", help="compare the separate solves (OUT/m)")
    args = parser.parse_args(argv)
    try:
        worst, area = difference(args.first, args.second, args.separate)
    except InputError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    print(f"{args.first} vs {args.second}: multipliers within {worst:.3g} of max(|m|, 1) (largest in {area})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
