"""No traceback from any command on any input: every option of every command, each with a bad
value, exits 2 with one `ERROR:` line and leaves the files around it as they were.

The options come from the parser itself, so a new option without a bad-value case here fails
`test_every_option_has_a_bad_value`. Each case runs through `main()` in-process; the workspace it
writes in (a problem, a reference-like tree, hidden files) is compared file by file, by hash,
before and after.
"""

from __future__ import annotations

import argparse
import hashlib
from pathlib import Path

import pytest

from goldstar.cli import build_parser, main

# Placeholders in the cases below, filled in per workspace.
WS = "{ws}"

# Valid arguments of each command, so that a case differs from a good call by one option. They are
# chosen so that a bad value that slips through would do visible work (and so fail the exit code).
BASE: dict[str, list[str]] = {
    "synth": ["--records", "40", "--targets", "4", "--out", f"{WS}/new-synth"],
    "solve": [f"{WS}/problem", "--out", f"{WS}/w.parquet", "--quiet"],
    "build": ["--out", f"{WS}/new-build"],
    "goldstar": ["--problem", f"{WS}/problem", "--reference", f"{WS}/new-ref", "--quiet"],
    "verify": ["--mode", "hash"],
    "report": ["--out", f"{WS}/new.html"],
    "impact": ["--html", f"{WS}/new-impact.html"],
    "areas": ["--areas", "WY", "--out", f"{WS}/areas-out", "--quiet"],
}

UNDER_A_FILE = f"{WS}/a-file/below"
MISSING = f"{WS}/no-such-file.csv"
LATIN1 = f"{WS}/latin1.csv"

# (command, option) -> the bad arguments (the option and its value). `positional:NAME` for positionals.
BAD: dict[tuple[str, str], list[str]] = {
    ("synth", "--records"): ["--records", "-5"],
    ("synth", "--targets"): ["--targets", "0"],
    ("synth", "--seed"): ["--seed", "-1"],
    ("synth", "--out"): ["--out", UNDER_A_FILE],
    ("synth", "--force"): ["--force=yes"],
    ("solve", "positional:problem"): [f"{WS}/no-such-problem"],
    ("solve", "--solver"): ["--solver", "nonesuch"],
    ("solve", "--out"): ["--out", WS],
    ("solve", "--option"): ["--option", "no-equals-sign"],
    ("solve", "--quiet"): ["--quiet=1"],
    ("solve", "--write-unconverged"): ["--write-unconverged=1"],
    ("build", "--records"): ["--records", MISSING],
    ("build", "--targets"): ["--targets", MISSING],
    ("build", "--year"): ["--year", "abc"],
    ("build", "--out"): ["--out", UNDER_A_FILE],
    ("build", "--report"): ["--report", WS],
    ("build", "--force"): ["--force=1"],
    ("build", "--penalty"): ["--penalty", "-1"],
    ("build", "--lower"): ["--lower", "inf"],
    ("build", "--upper"): ["--upper", "nan"],
    ("build", "--objective"): ["--objective", "nope"],
    ("build", "--eps"): ["--objective", "band", "--eps", "0"],
    ("build", "--slack-penalty"): ["--objective", "band", "--slack-penalty", "inf"],
    ("build", "--slack-units"): ["--objective", "band", "--slack-units", "x"],
    ("build", "--unreachable"): ["--objective", "band", "--unreachable", "x"],
    ("build", "--engine"): ["--engine", "x"],
    ("build", "--tc-weights"): ["--engine", "taxcalc", "--tc-weights", MISSING],
    ("build", "--tc-growfactors"): ["--engine", "taxcalc", "--tc-weights", MISSING, "--tc-growfactors", MISSING],
    ("build", "--tc-data-year"): ["--engine", "taxcalc", "--tc-data-year", "abc"],
    ("build", "--tc-s006-scale"): ["--engine", "taxcalc", "--tc-s006-scale", "-1"],
    ("build", "--tc-aged"): ["--tc-aged=1"],
    ("goldstar", "--problem"): ["--problem", f"{WS}/no-such-problem"],
    ("goldstar", "--records"): ["--records", MISSING],
    ("goldstar", "--targets"): ["--targets", MISSING],
    ("goldstar", "--year"): ["--year", "abc"],
    ("goldstar", "--penalty"): ["--penalty", "0"],
    ("goldstar", "--lower"): ["--lower", "-inf"],
    ("goldstar", "--upper"): ["--upper", "x"],
    ("goldstar", "--objective"): ["--objective", "nope"],
    ("goldstar", "--eps"): ["--objective", "band", "--eps", "-1"],
    ("goldstar", "--slack-penalty"): ["--objective", "band", "--slack-penalty", "0"],
    ("goldstar", "--slack-units"): ["--slack-units", "x"],
    ("goldstar", "--unreachable"): ["--unreachable", "x"],
    ("goldstar", "--engine"): ["--engine", "x"],
    ("goldstar", "--tc-weights"): ["--tc-weights", MISSING],
    ("goldstar", "--tc-growfactors"): ["--tc-growfactors", MISSING],
    ("goldstar", "--tc-data-year"): ["--tc-data-year", "x"],
    ("goldstar", "--tc-s006-scale"): ["--tc-s006-scale", "0"],
    ("goldstar", "--tc-aged"): ["--tc-aged=1"],
    ("goldstar", "--reference"): ["--reference", f"{WS}/a-file"],
    ("goldstar", "--force"): ["--force=1"],
    ("goldstar", "--lbfgsb-maxiter"): ["--lbfgsb-maxiter", "-3"],
    ("goldstar", "--lbfgsb-gtol"): ["--lbfgsb-gtol", "-1"],
    ("goldstar", "--quiet"): ["--quiet=1"],
    ("verify", "--reference"): ["--reference", f"{WS}/no-such-reference"],
    ("verify", "--areas"): ["--areas", f"{WS}/no-such-reference"],
    ("verify", "--mode"): ["--mode", "x"],
    ("verify", "--backend"): ["--backend", "x"],
    ("verify", "--device"): ["--device", "warp9"],
    ("verify", "--problem"): ["--problem", f"{WS}/no-such-problem"],
    ("report", "--reference"): ["--reference", f"{WS}/no-such-reference"],
    ("report", "--areas"): ["--areas", f"{WS}/no-such-areas"],
    ("report", "--out"): ["--out", WS],
    ("report", "--weights"): ["--weights", f"{WS}/no-such-weights.parquet", "--problem", f"{WS}/problem"],
    ("report", "--problem"): ["--problem", f"{WS}/problem"],
    ("impact", "positional:weights"): [f"{WS}/no-such-weights.parquet"],
    ("impact", "--records"): ["--records", MISSING],
    ("impact", "--year"): ["--year", "0"],
    ("impact", "--html"): ["--html", WS],
    ("impact", "--no-file-weights"): ["--no-file-weights=1"],
    ("impact", "--tc-weights"): ["--tc-weights", MISSING],
    ("impact", "--tc-growfactors"): ["--tc-growfactors", MISSING],
    ("impact", "--tc-data-year"): ["--tc-data-year", "0"],
    ("impact", "--tc-s006-scale"): ["--tc-s006-scale", "0"],
    ("impact", "--tc-aged"): ["--tc-aged=1"],
    ("areas", "--areas"): ["--areas", "ZZ"],
    ("areas", "--write-reference"): ["--write-reference", f"{WS}/a-file"],
    ("areas", "--force"): ["--force"],
    ("areas", "--verify"): ["--verify", f"{WS}/no-such-reference"],
    ("areas", "--out"): ["--out", UNDER_A_FILE],
    ("areas", "--scheduler"): ["--scheduler", "not a url::"],
    ("areas", "--workers"): ["--workers", "0"],
    ("areas", "--time-limit"): ["--time-limit", "inf"],
    ("areas", "--unreachable"): ["--unreachable", "x"],
    ("areas", "--eps"): ["--eps", "0"],
    ("areas", "--slack-penalty"): ["--slack-penalty", "-1"],
    ("areas", "--slack-units"): ["--slack-units", "x"],
    ("areas", "--slack-penalty-rule"): ["--slack-penalty-rule", "x"],
    ("areas", "--upper"): ["--upper", "inf"],
    ("areas", "--additive"): ["--additive"],  # WY alone is not a whole set
    ("areas", "--max-exhaustion"): ["--max-exhaustion", "inf"],
    ("areas", "--joint-time-limit"): ["--max-exhaustion", "2", "--joint-time-limit", "0"],
    ("areas", "--joint-device"): ["--max-exhaustion", "2", "--joint-device", "tpu9"],
    ("areas", "--within"): ["--within", MISSING],
    ("areas", "--overrides"): ["--overrides", LATIN1],
    ("areas", "--reference"): ["--reference", f"{WS}/no-such-reference"],
    ("areas", "--national-weights"): ["--national-weights", MISSING],
    ("areas", "--records"): ["--records", MISSING],
    ("areas", "--soi"): ["--soi", MISSING],
    ("areas", "--recipe"): ["--recipe", LATIN1],
    ("areas", "--sharing"): ["--sharing", LATIN1],
    ("areas", "--targets-dir"): ["--targets-dir", MISSING],
    ("areas", "--last-year", ): ["--last-year", "1800"],
    ("areas", "--population"): ["--population", LATIN1],
    ("areas", "--engine"): ["--engine", "x"],
    ("areas", "--tc-weights"): ["--engine", "taxcalc", "--tc-weights", MISSING],
    ("areas", "--tc-growfactors"): ["--engine", "taxcalc", "--tc-weights", MISSING, "--tc-growfactors", MISSING],
    ("areas", "--tc-data-year"): ["--engine", "taxcalc", "--tc-data-year", "abc"],
    ("areas", "--tc-s006-scale"): ["--tc-s006-scale", "0.5"],
    ("areas", "--tc-aged"): ["--tc-aged=1"],
    ("areas", "--seed"): ["--seed", "-1"],
    ("areas", "--tmd-year"): ["--tmd-year", "-7"],
    ("areas", "--no-tmd-weights"): ["--no-tmd-weights=1"],
    ("areas", "--rerun-all"): ["--rerun-all=1"],
    ("areas", "--quiet"): ["--quiet=1"],
}


def parser_options() -> set[tuple[str, str]]:
    """(command, option) for every option of every command, read from the parser."""
    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    found = set()
    for name, sub in commands.choices.items():
        for action in sub._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            found.add((name, action.option_strings[0] if action.option_strings else f"positional:{action.dest}"))
    return found


def test_every_option_has_a_bad_value():
    missing = sorted(parser_options() - set(BAD))
    assert not missing, f"options without a bad-value case in this file: {missing}"
    assert not sorted(set(BAD) - parser_options()), "cases for options the parser no longer has"


def snapshot(root: Path) -> dict[str, str]:
    """Every file and directory under root, hidden ones included, with the hash of each file."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    ws = tmp_path_factory.mktemp("hostile")
    assert main(["synth", "--records", "60", "--targets", "4", "--seed", "1", "--out", str(ws / "problem")]) == 0
    (ws / "a-file").write_text("a file, not a directory\n")
    (ws / ".hidden").write_text("keep me\n")
    (ws / "mine").mkdir()
    (ws / "mine" / ".notes").write_text("the user's\n")
    (ws / "latin1.csv").write_bytes("area,eps,upper,targets,slack_penalty,note\nWY,,,,,caf\xe9\n".encode("latin-1"))
    return ws


@pytest.mark.parametrize("command,option", sorted(BAD))
def test_a_bad_value_exits_2_with_one_error_line(workspace, command, option, capsys):
    argv = [command, *(a.replace(WS, str(workspace)) for a in BASE[command]),
            *(a.replace(WS, str(workspace)) for a in BAD[(command, option)])]
    before = snapshot(workspace)
    code = main(argv)
    captured = capsys.readouterr()
    errors = [line for line in captured.err.splitlines() if line.startswith("ERROR:")]
    assert code == 2, f"{argv}: exit {code}\n{captured.err[-2000:]}"
    assert len(errors) == 1, captured.err
    assert "Traceback" not in captured.err + captured.out
    assert snapshot(workspace) == before, f"{argv} changed the workspace"
