"""docs/tmd.md's examples run: every ```python block, in order, in one namespace, from the
repository root, with `tmp` a fresh directory (what the page says of itself)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGE = ROOT / "docs" / "tmd.md"


def blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", PAGE.read_text(encoding="utf-8"), flags=re.S)


def test_the_page_has_its_four_examples():
    assert len(blocks()) == 4


def test_every_example_runs(tmp_path, monkeypatch, capsys):
    pytest.importorskip("dask.distributed")
    monkeypatch.chdir(ROOT)
    # run as a script is: the areas example sits under `if __name__ == "__main__":`
    namespace = {"tmp": tmp_path, "__name__": "__main__"}
    for block in blocks():
        exec(compile(block, str(PAGE), "exec"), namespace)
    out = capsys.readouterr().out
    assert "certificate passed" in out  # the national Result
    assert "weights do not match the reference" in out and "record_id" in out  # the moved weight, named
    assert "verified     2 of 2 areas" in out
    assert re.search(r"WY +ok +True", out) and re.search(r"DC +ok +True", out)  # the areas batch, run
