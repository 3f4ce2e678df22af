"""Without the ``emulator`` extra (aiohttp, jsonschema-rs, msgspec), ``tikstream emulator`` and ``python -m
tikstream.emulator`` say in one line how to get it and exit 2, and the package's light modules still import.

Each case runs a child Python in which a library of the extra cannot be imported (``sys.modules[name] = None``,
which makes its import fail as a missing package's does), so nothing needs uninstalling.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from tikstream.emulator import extra

TIKSTREAM_EMULATOR = "from tikstream.cli.main import main; raise SystemExit(main(['emulator', '-h']))"
PYTHON_M = "import runpy; sys.argv[1:] = ['-h']; runpy.run_module('tikstream.emulator', run_name='__main__')"


def _without(modules: list[str], code: str) -> subprocess.CompletedProcess[str]:
    blocker = f"import sys; sys.modules.update(dict.fromkeys({modules!r})); "
    return subprocess.run([sys.executable, "-c", blocker + code], capture_output=True, text=True, timeout=60)


def _message(module: str) -> str:
    return (f"error: the emulator needs the 'emulator' extra (cannot import {module}); "
            "install it with: pip install 'tikstream[emulator]'\n")


@pytest.mark.parametrize(
    ("module", "code"),
    [
        pytest.param("aiohttp", TIKSTREAM_EMULATOR, id="tikstream-emulator-without-aiohttp"),
        pytest.param("jsonschema_rs", TIKSTREAM_EMULATOR, id="tikstream-emulator-without-jsonschema_rs"),
        pytest.param("msgspec", TIKSTREAM_EMULATOR, id="tikstream-emulator-without-msgspec"),
        pytest.param("aiohttp", PYTHON_M, id="python-m-without-aiohttp"),
    ],
)
def test_without_the_extra_one_line_says_how_to_install_it(module: str, code: str) -> None:
    done = _without([module], code)
    assert (done.returncode, done.stdout, done.stderr) == (2, "", _message(module))


def test_the_light_modules_import_without_the_extra() -> None:
    code = "import tikstream.emulator.process, tikstream.emulator.formats; print('ok')"
    done = _without(sorted(extra.MODULES), code)
    assert (done.returncode, done.stdout, done.stderr) == (0, "ok\n", "")


def test_only_the_extra_libraries_get_the_message() -> None:
    assert extra.missing(ModuleNotFoundError(name="aiohttp.web")) == _message("aiohttp").rstrip("\n")
    assert extra.missing(ModuleNotFoundError(name="yaml")) is None  # a core dependency: the traceback stays
    assert extra.missing(ImportError("no name")) is None


def test_the_modules_are_those_of_the_extra_in_pyproject() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[2] / "pyproject.toml").read_text())
    requirements = pyproject["project"]["optional-dependencies"]["emulator"]
    assert {re.split(r"[<>=!~;\[ ]", r, maxsplit=1)[0].replace("-", "_") for r in requirements} == extra.MODULES
    assert not [r for r in pyproject["project"]["dependencies"] if r.startswith(("aiohttp", "jsonschema", "msgspec"))]
