"""How far apart two joint solves of the same areas are: the largest difference of their
multipliers, area by area, relative to max(|m|, 1) (the scale of goldstar's verify rtol).

    python scripts/compare_joint.py bench-areas/within-NY bench-areas/within-NYPA/NY

Reads each directory's OUT/joint (goldstar areas --additive or --max-exhaustion E); prints one
line a pair and exits 2 when either has no joint solve or their areas differ. Nothing is solved.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from goldstar.areas.joint_run import read_joint  # noqa: E402
from goldstar.exceptions import InputError  # noqa: E402


def difference(first: Path, second: Path) -> tuple[float, str]:
    """(the largest |m1 - m2| / max(|m2|, 1) over every area and record, the area where it is)."""
    found = [read_joint(path) for path in (first, second)]
    for path, joint in zip((first, second), found):
        if joint is None:
            raise InputError(f"{path}: no joint solve (OUT/joint)")
    (_, m1), (_, m2) = found
    if sorted(m1) != sorted(m2):
        raise InputError(f"{first} and {second} hold other areas: {sorted(m1)[:5]} ... and {sorted(m2)[:5]} ...")
    worst = {area: float(np.max(np.abs(m1[area] - m2[area]) / np.maximum(np.abs(m2[area]), 1.0))) for area in m2}
    area = max(worst, key=worst.get)
    return worst[area], area


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("first", type=Path)
    parser.add_argument("second", type=Path)
    args = parser.parse_args(argv)
    try:
        worst, area = difference(args.first, args.second)
    except InputError as exc:
        print(f"ERROR: {exc}", file=sys.stderr)
        return 2
    print(f"{args.first} vs {args.second}: multipliers within {worst:.3g} of max(|m|, 1) (largest in {area})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
