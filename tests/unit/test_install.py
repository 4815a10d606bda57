"""The environment `make demo` and `make test` build is the one uv.lock describes, and it imports.

A fresh install once resolved scrapli 2.0 beside a nornir-scrapli that cannot import it; these
tests make a bad resolution fail CI instead of a user.
"""

from __future__ import annotations

import importlib.metadata
import pkgutil
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

import nornflow

ROOT = Path(__file__).resolve().parents[2]
LOCK = tomllib.loads((ROOT / "uv.lock").read_text())
LOCKED: dict[str, set[str]] = {}  # a package may be locked at several versions, one per Python range
for _package in LOCK["package"]:
    if "version" in _package:
        LOCKED.setdefault(canonicalize_name(_package["name"]), set()).add(_package["version"])


def test_installed_versions_are_the_locked_ones() -> None:
    checked, wrong = 0, []
    for dist in importlib.metadata.distributions():
        name = canonicalize_name(dist.metadata["Name"])
        if name in LOCKED and name != "nornflow-netops":
            checked += 1
            if dist.version not in LOCKED[name]:
                wrong.append(f"{name} {dist.version} installed, {' or '.join(sorted(LOCKED[name]))} locked")
    assert not wrong, "the environment does not match uv.lock (run `make clean test`):\n" + "\n".join(wrong)
    assert checked > 100  # the whole test environment, not a handful of packages


def test_lock_matches_pyproject() -> None:
    uv = shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
    if not Path(uv).exists():
        pytest.skip("uv is not installed here (make installs it under .tools/)")
    done = subprocess.run([uv, "lock", "--check", "--offline"], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, f"uv.lock is stale for pyproject.toml; run `make lock`:\n{done.stderr}"


def test_scrapli_stays_below_2_0_and_nornir_scrapli_imports() -> None:
    scrapli = Version(importlib.metadata.version("scrapli"))
    assert scrapli < Version("2026.10"), f"scrapli {scrapli} is scrapli 2.0, which nornir-scrapli cannot import"
    bound = next(Requirement(r) for r in importlib.metadata.requires("nornflow-netops") or []
                 if Requirement(r).name == "scrapli")
    assert not bound.specifier.contains("2026.10.14"), "pyproject.toml must keep scrapli below 2.0"
    from nornir_scrapli.tasks import send_command

    assert callable(send_command)


def test_every_module_of_the_package_imports() -> None:
    names = [m.name for m in pkgutil.walk_packages(nornflow.__path__, "nornflow.")]
    assert len(names) > 40
    code = "import importlib, sys\nfor n in sys.argv[1:]:\n    importlib.import_module(n)\n"
    done = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


# The newest release each bound must keep out, and why (measured with `uv pip compile --resolution lowest-direct`).
KNOWN_BAD = {
    "prefect": ("3.8.8", "allows the newest fastapi, whose Body() refuses min_items: the server does not start"),
    "nornir": ("3.4.0", "imports pkg_resources without requiring setuptools: fails in a fresh venv"),
    "pydantic-settings": ("2.6.1", "has no NoDecode, which nornflow.gateway.settings uses"),
    "pydantic": ("3.0.0", "a major release: nothing here is tested against it"),
}


def test_pyproject_bounds_keep_out_the_versions_known_to_break() -> None:
    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    bounds = {canonicalize_name(r.name): r.specifier for r in map(Requirement, declared)}
    allowed = [f"{name} {version} ({why})" for name, (version, why) in KNOWN_BAD.items()
               if bounds[name].contains(version)]
    assert not allowed, "pyproject.toml allows versions known not to work:\n" + "\n".join(allowed)
    assert not bounds["nornir"].contains("4.0.0"), "nornir 4 is a major release: bound it until it is tested"
    for name in KNOWN_BAD:  # and the bounds still admit what the lock installs
        assert all(bounds[name].contains(v) for v in LOCKED[name]), name
