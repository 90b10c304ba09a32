"""An installed goldstar (a wheel, not this checkout) runs from any directory: the vendored inputs
and recipe files are package data, found through the package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_the_wheel_builds_solves_and_verifies_from_an_empty_directory(tmp_path):
    wheels, site, empty = tmp_path / "wheels", tmp_path / "site", tmp_path / "empty"
    empty.mkdir()
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                 str(REPO)], tmp_path, dict(os.environ))
    assert built.returncode == 0, built.stderr
    (wheel,) = wheels.glob("goldstar-*.whl")
    installed = run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(site), str(wheel)],
                    tmp_path, dict(os.environ))
    assert installed.returncode == 0, installed.stderr
    env = {**os.environ, "PYTHONPATH": str(site)}
    where = run([sys.executable, "-c", "import goldstar; print(goldstar.__file__)"], empty, env)
    assert Path(where.stdout.strip()).is_relative_to(site), where.stdout + where.stderr
    goldstar = [sys.executable, "-m", "goldstar"]
    build = run(goldstar + ["build", "--out", "problem"], empty, env)
    assert build.returncode == 0, build.stderr
    assert "n = 280,005" in build.stdout  # the embedded CPS file, read from the installed package
    solve = run(goldstar + ["solve", "problem", "--out", "w.parquet", "--quiet"], empty, env)
    assert solve.returncode == 0, solve.stderr
    assert "certificate passed" in solve.stdout
    verify = run(goldstar + ["verify", "--reference", str(REPO / "reference" / "default")], empty, env)
    assert verify.returncode == 0, verify.stdout + verify.stderr
    assert "all checks passed" in verify.stdout
    assert sorted(p.name for p in empty.iterdir()) == ["problem", "w.parquet"]


def test_the_taxcalc_pin_is_the_one_in_pyproject():
    """goldstar.defaults.TAXCALC_PIN (the engine's install hint) and the `taxcalc` extra name one release."""
    import tomllib

    from goldstar.defaults import TAXCALC_PIN

    extras = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]
    assert extras["taxcalc"] == [TAXCALC_PIN]
