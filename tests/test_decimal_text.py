"""CSV text of rounded non-negative numbers by table look-ups (goldstar.store.decimal_text), and
gzip of text made in pieces (goldstar.store.gzip_stream)."""

from __future__ import annotations

import gzip
import io

import numpy as np
import pandas as pd
import pytest

from goldstar.store.decimal_text import ROWS_PER_CHUNK, decimal_csv, decimal_csv_chunks
from goldstar.store.gzip_stream import gzip_pieces


def python_text(columns: list[np.ndarray], decimals: int) -> bytes:
    """The same rows written one value at a time: the decimal of rint(v 10^d) / 10^d, no trailing zeros."""
    lines = []
    for row in zip(*columns):
        fields = []
        for v in row:
            q = int(np.rint(v * 10.0 ** decimals))
            whole, frac = divmod(q, 10 ** decimals)
            digits = f"{frac:0{decimals}d}".rstrip("0")
            fields.append(f"{whole}.{digits}" if digits else f"{whole}")
        lines.append(",".join(fields) + "\n")
    return "".join(lines).encode()


@pytest.mark.parametrize("decimals", [1, 2, 5, 6])
def test_the_text_is_each_rounded_value_written_out(decimals):
    rng = np.random.default_rng(decimals)
    n = ROWS_PER_CHUNK + 37  # more than one chunk, the last one short
    columns = [rng.lognormal(0, 3, n) for _ in range(3)]
    columns[0][:8] = [0.0, 1.0, 10.0, 0.5, 10.0 ** -decimals, 0.4 * 10.0 ** -decimals, 99.99, 10.0 ** decimals - 1]
    columns[1][:3] = [123.456789, 1e-12, 7.0]
    columns = [np.minimum(c, 10.0 ** decimals - 1) for c in columns]
    text = decimal_csv(columns, decimals)
    assert text == python_text(columns, decimals)
    back = pd.read_csv(io.BytesIO(text), header=None)
    for k, column in enumerate(columns):
        # read back, each value is exactly the rounded one
        assert np.array_equal(back[k].to_numpy(dtype=np.float64), np.round(column, decimals))


def test_a_value_outside_the_tables_is_left_to_the_caller():
    ok = np.array([0.0, 1.5, 99999.99999])
    assert decimal_csv([ok], 5) is not None
    for bad in (100000.0, -0.1, np.nan, np.inf):
        assert decimal_csv([np.array([1.0, bad])], 5) is None
    assert decimal_csv([ok], 0) is None
    assert decimal_csv([ok], 7) is None
    assert decimal_csv([], 5) is None


def test_the_pieces_are_the_text_cut_at_whole_rows():
    rng = np.random.default_rng(7)
    columns = [np.minimum(rng.lognormal(2, 2, 3 * ROWS_PER_CHUNK + 5), 9e4) for _ in range(4)]
    pieces = list(decimal_csv_chunks(columns, 5))
    assert len(pieces) == 4
    assert b"".join(pieces) == decimal_csv(columns, 5)
    assert all(p.endswith(b"\n") and p.count(b"\n") <= ROWS_PER_CHUNK for p in pieces)
    assert decimal_csv_chunks([columns[0], -columns[1]], 5) is None  # checked before any piece is made


@pytest.mark.parametrize("cut", [1, 1000, 1 << 16])
def test_gzip_of_pieces_is_gzip_of_the_whole(cut):
    text = python_text([np.arange(5000) * 1.25, np.arange(5000) % 7 / 3], 5)
    pieces = [text[k:k + cut] for k in range(0, len(text), cut)]
    for level in (1, 6, 9):
        made = gzip_pieces(pieces, level)
        assert made == gzip.compress(text, compresslevel=level, mtime=0)  # the same bytes, time stamp 0
        assert gzip.decompress(made) == text
    assert gzip_pieces([], 1) == gzip.compress(b"", compresslevel=1, mtime=0)
