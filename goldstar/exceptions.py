"""The exceptions goldstar raises, one family rooted at GoldstarError.

The CLI maps them onto exit codes: InputError and its kin (something could not
be read or is malformed) exit 2; VerificationFailed and SolverError (a check or
a solve did not succeed) exit 1.
"""

from __future__ import annotations

# The exit codes of every command (goldstar.cli, goldstar.areas.command): success; a check
# failed or a solver did not converge; bad input, nothing was done.
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


class GoldstarError(Exception):
    """Base of every error goldstar raises on purpose."""


class InputError(GoldstarError, ValueError):
    """Input data or an argument is malformed; the message names what and where."""


class ReferenceFormatError(InputError):
    """A reference file is missing, truncated, or of a schema this version does not know."""


class SolverNotFound(InputError):
    """The requested solver is unknown or its optional package is not installed."""


class EngineNotInstalled(InputError):
    """A records engine's optional package is missing; the message says how to install it."""


class HashMismatch(GoldstarError):
    """An input no longer hashes to what a reference recorded."""


class SolverError(GoldstarError):
    """A solver failed in a way that left no usable answer."""


class VerificationFailed(GoldstarError):
    """A verification check failed."""


class UnreachableTargets(GoldstarError):
    """Band targets that no multipliers in the box can meet, under the `error` policy (exit 1)."""
