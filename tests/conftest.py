"""Test configuration: offscreen Qt, a private PostgreSQL for the session, an isolated keyring."""

from __future__ import annotations

import os

# Before anything imports Qt.
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("QT_QUICK_BACKEND", "software")

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from tnm_desktop.pgcluster import LocalCluster

from tests.pg import Db, build_template, create_test_database, drop_test_database


class MemoryKeyring(KeyringBackend):
    """An isolated keyring for one test: the real keyring API, nothing leaves the process."""

    priority = 1

    def __init__(self) -> None:
        super().__init__()  # type: ignore[no-untyped-call]  # keyring's __init__ has no annotations
        self.items: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.items.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.items[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        from keyring.errors import PasswordDeleteError

        if (service, username) not in self.items:
            raise PasswordDeleteError(username)
        del self.items[(service, username)]


def pytest_report_header() -> str:
    """Say which PostgreSQL the session's clusters run on (``python -m tests`` runs on both)."""
    from tnm_desktop.errors import OperationalError

    try:
        install = LocalCluster(Path(tempfile.gettempdir()) / "tnm-no-cluster-here").install  # a new cluster's
    except OperationalError as exc:
        return f"postgresql: none ({exc})"
    return f"postgresql: {install.kind} {install.major} ({install.bindir})"


@pytest.fixture(scope="session", autouse=True)
def isolated_user_folders() -> Iterator[Path]:
    """The user's config, data and log folders of the session, in a temporary folder: nothing a
    test does lands in this machine's real ones (where other checkouts' runs write too), and
    nothing left there by them reaches a test. Tests that need their own set override these."""
    root = reachable_tmpdir("tnm-test-home-")
    saved = {name: os.environ.get(name) for name in ("TNM_CONFIG_DIR", "TNM_DATA_DIR", "TNM_LOG_DIR")}
    for name, sub in (("TNM_CONFIG_DIR", "config"), ("TNM_DATA_DIR", "data"), ("TNM_LOG_DIR", "log")):
        os.environ[name] = str(root / sub)
    yield root
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def isolated_keyring() -> Iterator[MemoryKeyring]:
    """Every test gets its own empty keyring."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    yield backend
    keyring.set_keyring(previous)


def reachable_tmpdir(prefix: str) -> Path:
    """A temporary directory the unprivileged PostgreSQL user can enter when tests run as root.

    pytest's own tmp_path lives under a 0700 directory of root's, which that user cannot cross.
    """
    root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp" if os.name == "posix" else None))
    os.chmod(root, 0o755)  # noqa: S103 — the server user must enter it; it holds only test data
    return root


@pytest.fixture
def pg_tmpdir() -> Iterator[Path]:
    """A per-test directory a local database can live in."""
    root = reachable_tmpdir("tnm-test-")
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[LocalCluster]:
    """One private PostgreSQL cluster for the whole session, with a migrated template."""
    root = reachable_tmpdir("tnm-test-pg-")
    cluster = LocalCluster(root / "db", fast=True)
    cluster.start()
    try:
        build_template(cluster)
        yield cluster
    finally:
        cluster.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def db(pg_cluster: LocalCluster) -> Iterator[Db]:
    """A fresh database for one test, copied from the migrated template."""
    database = create_test_database(pg_cluster)
    try:
        yield database
    finally:
        drop_test_database(database)
