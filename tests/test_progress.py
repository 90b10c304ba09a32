"""Progress bars: shown on a terminal for long work, silent with --quiet or without a terminal."""

from __future__ import annotations

import io
import time

from goldstar.progress import Progress


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_silent_when_stderr_is_not_a_terminal(monkeypatch):
    err = io.StringIO()
    monkeypatch.setattr("sys.stderr", err)
    with Progress("newton") as progress:
        progress({"iteration": 1, "loss": 1.0, "F_inf": 0.5})
    assert err.getvalue() == ""


def test_shown_on_a_terminal_after_the_delay(monkeypatch):
    err = FakeTerminal()
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.setattr("goldstar.progress.SHOW_AFTER_SECONDS", 0.0)
    with Progress("lbfgsb") as progress:
        for k in range(3):
            progress({"iteration": k, "loss": 10.0 - k})
            time.sleep(0.15)  # past tqdm's 0.1 s redraw interval
    shown = err.getvalue()
    assert "lbfgsb" in shown and "loss=" in shown


def test_quiet_silences_a_terminal(monkeypatch):
    err = FakeTerminal()
    monkeypatch.setattr("sys.stderr", err)
    monkeypatch.setattr("goldstar.progress.SHOW_AFTER_SECONDS", 0.0)
    with Progress("newton", quiet=True) as progress:
        progress({"iteration": 1, "loss": 1.0})
    assert err.getvalue() == ""
