"""Print a pip constraints file pinning every dependency of pyproject.toml to its floor.

    python scripts/oldest_constraints.py > constraints.txt   (make test-oldest)

Every `name>=X` requirement, of the core and of every extra, becomes `name==X`; exact pins stay.
"""
from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9_.-]+)(\[[^\]]*\])?\s*(>=|==)\s*([0-9][^,;\s]*)")


def floors(pyproject: Path = PYPROJECT) -> dict[str, str]:
    project = tomllib.loads(pyproject.read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in project.get("optional-dependencies", {}).values():
        requirements += extra
    out = {}
    for requirement in requirements:
        match = REQUIREMENT.match(requirement)
        if match:
            out[match.group(1).lower()] = match.group(4)
    return out


def main() -> int:
    for name, version in sorted(floors().items()):
        print(f"{name}=={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
