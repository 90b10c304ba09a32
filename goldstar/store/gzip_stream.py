"""gzip of text that arrives in pieces, without joining them first.

`gzip_pieces(pieces, level)` gives the bytes `gzip.compress(b"".join(pieces), level, mtime=0)`
gives: zlib writes the gzip header (no time stamp, no file name) and trailer around one deflate
stream, fed piece by piece (its output does not depend on how the input is cut). Each piece is
compressed while it is still in the processor's cache, and the whole text never exists at once
(an area's weights file holds tens of MB of text).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable

_GZIP_WRAPPER = 16 + zlib.MAX_WBITS  # zlib's window bits for a gzip header and trailer


def gzip_pieces(pieces: Iterable[bytes], level: int = 1) -> bytes:
    """The gzip file of the pieces' concatenation, made piece by piece (module docstring)."""
    deflate = zlib.compressobj(level, zlib.DEFLATED, _GZIP_WRAPPER)
    out = [deflate.compress(piece) for piece in pieces]
    out.append(deflate.flush())
    return b"".join(out)


__all__ = ["gzip_pieces"]
