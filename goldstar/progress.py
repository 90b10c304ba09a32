"""Progress on long work: a tqdm bar on a terminal, silence elsewhere.

The bar appears only after two seconds, so quick solves print nothing extra;
it is off with --quiet or when stderr is not a terminal (CI logs, pipes).
"""

from __future__ import annotations

import sys
from typing import Any, Mapping

from tqdm import tqdm

SHOW_AFTER_SECONDS = 2.0


class Progress:
    """A callable that solvers feed one dict per iteration; use it as a context manager."""

    def __init__(self, description: str, *, quiet: bool = False) -> None:
        enabled = not quiet and sys.stderr.isatty()
        self._bar = tqdm(
            desc=description, unit="it", file=sys.stderr, disable=not enabled,
            delay=SHOW_AFTER_SECONDS, leave=False,
        )

    def __call__(self, entry: Mapping[str, Any]) -> None:
        postfix = {}
        for key in ("loss", "F_inf", "pg"):
            if key in entry:
                postfix[key] = f"{entry[key]:.6g}"
        self._bar.set_postfix(postfix, refresh=False)
        self._bar.update(1)

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.close()
