"""scripts/additive_probe.py: its refusals (exit 2, one line) and a capped synthetic run that
certifies (the joint method and certificate themselves: tests/test_additive_core.py)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def probe():
    spec = importlib.util.spec_from_file_location("additive_probe", REPO / "scripts" / "additive_probe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("argv, message", [
    (["--from-separate", "reference/areas"], "--from-separate needs --states"),
    (["--states", "--from-separate", "reference/areas", "--start", "x.npz"], "--from-separate needs --states"),
    (["--max-exhaustion", "0.5"], "--max-exhaustion 0.5: must be a finite number of at least 1"),
    (["--max-exhaustion", "inf"], "--max-exhaustion inf: must be a finite number of at least 1"),
    (["--max-exhaustion", "nan"], "--max-exhaustion nan: must be a finite number of at least 1"),
    (["--states", "--from-separate", "."], "--from-separate .: not an areas reference"),
    (["--start", "no-such-file.npz"], "--start no-such-file.npz: no such file"),
])
def test_bad_arguments_exit_2_naming_the_option(probe, capsys, argv, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exit_:
        probe.main(argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_a_capped_synthetic_problem_solves_and_certifies(probe, capsys, tmp_path):
    save = tmp_path / "answer.npz"
    assert probe.main(["--records", "600", "--cells", "8", "--areas", "4", "--max-exhaustion", "1.05",
                       "--save", str(save)]) == 0
    out = capsys.readouterr().out
    assert "exhaustion at E = 1.05" in out and "certificate passed" in out
    saved = np.load(save)
    assert saved["x"].shape[1] == 4
    with pytest.raises(SystemExit) as exit_:  # an existing --save file is never overwritten
        probe.main(["--records", "600", "--save", str(save)])
    assert exit_.value.code == 2 and "the file exists" in capsys.readouterr().err
