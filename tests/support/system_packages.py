"""Programs some tests need from Debian's packages (a browser, a Redis server to kill):
installed with apt-get when missing, and a loud test failure (never a skip) when they
cannot be."""

from __future__ import annotations

import pathlib
import shutil
import subprocess

import pytest


def ensure_debian_program(program: pathlib.Path, package: str) -> pathlib.Path:
    """`program`, installing Debian's `package` with apt-get if it is missing."""
    if program.exists():
        return program
    if shutil.which("apt-get") is None:
        pytest.fail(f"{program} is missing and apt-get is not available to install {package}")
    log = []
    for argv in (["apt-get", "install", "-y", package], ["apt-get", "update"],
                 ["apt-get", "install", "-y", package]):
        if program.exists():
            break
        result = subprocess.run(argv, capture_output=True, text=True, timeout=900,
                                env={"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        log.append(f"$ {' '.join(argv)} -> {result.returncode}\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    if not program.exists():
        pytest.fail(f"could not install Debian's {package} with apt-get:\n" + "\n".join(log))
    return program
