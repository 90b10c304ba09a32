"""goldstar's pytest plugin (entry point `pytest11`: loaded wherever goldstar is installed).

The `goldstar_reference` fixture is the goldstar.store.reference.Reference named by

    pytest --goldstar-reference=PATH        (relative to the directory pytest runs in), or
    goldstar_reference = PATH               (ini option; relative to the ini file's directory)

the command line winning. With `=`: pytest reads a value after a space as a path it may choose
its rootdir (and its configuration file) by. A test that asks for the fixture with neither given,
or with a path that holds no readable reference, fails saying so, without a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from .exceptions import InputError
from .store.reference import Reference, read_reference

OPTION = "--goldstar-reference"
INI = "goldstar_reference"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(OPTION, default=None, metavar="PATH",
                     help="the goldstar reference directory the goldstar_reference fixture loads")
    parser.addini(INI, default=None, help="the goldstar reference directory (relative to this file)")


def reference_path(config: pytest.Config) -> Path | None:
    """The reference directory the options name, or None."""
    given = config.getoption(OPTION)
    if given:
        return Path(config.invocation_params.dir) / given
    ini = config.getini(INI)
    if ini:
        return Path(config.rootpath if config.inipath is None else config.inipath.parent) / ini
    return None


@pytest.fixture(scope="session")
def goldstar_reference(pytestconfig: pytest.Config) -> Reference:
    """The goldstar reference named by --goldstar-reference or the goldstar_reference ini option."""
    path = reference_path(pytestconfig)
    if path is None:
        pytest.fail(f"no goldstar reference named: pass {OPTION}=PATH, or set `{INI} = PATH` in the "
                    "pytest configuration", pytrace=False)
    try:
        return read_reference(path)
    except InputError as exc:  # ReferenceFormatError among them: the path is named in the message
        pytest.fail(f"goldstar_reference: {exc}", pytrace=False)
