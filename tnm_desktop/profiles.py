"""Connection profiles: a Supabase project or a local workspace, several, one default.

Stored as JSON in the user's config directory. Nothing secret is in that file: the Supabase anon
(publishable) key is public by design — it only ever acts under row-level security — and
remembered sessions go to the OS keyring under the profile's id.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import tempfile
import uuid
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path

import platformdirs

from tnm_desktop import files
from tnm_desktop.errors import UserError

APP = "tnm-desktop"
# Empty: the app chooses (this workspace's receiver, or the Supabase project's Edge Function).
DEFAULT_WEBHOOK_BASE = ""


class ProfileKind(StrEnum):
    """Where a profile's data lives."""

    SUPABASE = "supabase"
    LOCAL = "local"


def config_dir() -> Path:
    """The user's config directory for TNM Desktop (``TNM_CONFIG_DIR`` overrides it)."""
    return Path(os.environ.get("TNM_CONFIG_DIR") or platformdirs.user_config_dir(APP, appauthor=False))


def data_dir() -> Path:
    """The user's data directory (``TNM_DATA_DIR`` overrides it): default workspaces live here."""
    return Path(os.environ.get("TNM_DATA_DIR") or platformdirs.user_data_dir(APP, appauthor=False))


def log_dir() -> Path:
    """The user's log directory (``TNM_LOG_DIR`` overrides it)."""
    return Path(os.environ.get("TNM_LOG_DIR") or platformdirs.user_log_dir(APP, appauthor=False))


def key_role(key: str) -> str | None:
    """The role a Supabase API key grants, read from the key itself (not verified)."""
    if key.startswith("sb_secret_"):
        return "service_role"
    if key.startswith("sb_publishable_"):
        return "anon"
    parts = key.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except (ValueError, UnicodeDecodeError):
        return None
    role = payload.get("role") if isinstance(payload, dict) else None
    return str(role) if role else None


def check_anon_key(key: str) -> None:
    """Refuse any key but a project's anon/publishable key, saying why."""
    role = key_role(key.strip())
    if role == "service_role":
        raise UserError(
            "This is a service_role (secret) key. It bypasses every row-level security policy, so "
            "anyone with this computer could read and change every user's data. Use the project's "
            "anon / publishable key instead (Project Settings → API).", code="service_key")
    if role != "anon":
        raise UserError("That does not look like a Supabase anon / publishable key.", code="invalid_key")


@dataclass(frozen=True, slots=True)
class ConnectionProfile:
    """One place to sign in to."""

    id: str
    name: str
    kind: ProfileKind
    supabase_url: str = ""
    anon_key: str = ""
    workspace_dir: str = ""
    webhook_base_url: str = DEFAULT_WEBHOOK_BASE
    last_email: str = ""

    @property
    def session_key(self) -> str:
        """The keyring entry of this profile's remembered session."""
        return f"session:{self.id}"

    def validated(self) -> ConnectionProfile:
        """Return the profile cleaned up, or raise UserError saying what is wrong."""
        name = self.name.strip()
        if not name:
            raise UserError("Give the profile a name.", code="invalid")
        base = self.webhook_base_url.strip().rstrip("/")
        if base and not base.startswith(("http://", "https://")):
            raise UserError("The webhook base URL must start with http:// or https://.", code="invalid")
        if self.kind is ProfileKind.SUPABASE:
            url = self.supabase_url.strip().rstrip("/")
            if not url.startswith(("https://", "http://")):
                raise UserError("Enter the project URL, like https://abcd.supabase.co.", code="invalid")
            check_anon_key(self.anon_key)
            return replace(self, name=name, supabase_url=url, anon_key=self.anon_key.strip(), webhook_base_url=base)
        if not self.workspace_dir.strip():
            raise UserError("Choose a folder for the local workspace.", code="invalid")
        return replace(self, name=name, workspace_dir=str(Path(self.workspace_dir).expanduser()),
                       webhook_base_url=base)

    @staticmethod
    def new(name: str, kind: ProfileKind, **fields: str) -> ConnectionProfile:
        """A profile with a fresh id."""
        return ConnectionProfile(id=uuid.uuid4().hex[:12], name=name, kind=kind, **fields)


def _profile_of(raw: object) -> ConnectionProfile:
    if not isinstance(raw, dict):
        raise TypeError("not an object")
    known = {f.name for f in fields(ConnectionProfile)}
    values = {k: v for k, v in raw.items() if k in known}
    if not all(isinstance(v, str) for v in values.values()):
        raise TypeError("a field is not text")
    return ConnectionProfile(**{**values, "kind": ProfileKind(values["kind"])})


@dataclass
class ProfileStore:
    """The profiles file. Reads and writes block: call off the GUI thread."""

    path: Path = field(default_factory=lambda: config_dir() / "profiles.json")

    def load(self) -> tuple[list[ConnectionProfile], str | None]:
        """All profiles and the default one's id.

        Raises:
            OperationalError: The file cannot be read or is damaged (it is left as it is).
        """
        data = files.read_json_object(self.path, "the connection profiles file")
        if data is None:
            return [], None
        try:
            profiles = [_profile_of(p) for p in data.get("profiles", [])]
        except (TypeError, ValueError, KeyError) as exc:
            raise files.damaged("the connection profiles file", self.path, f"a profile is not readable: {exc}") \
                from None
        default = data.get("default")
        return profiles, default if isinstance(default, str) else None

    def save(self, profiles: list[ConnectionProfile], default: str | None) -> None:
        """Write all profiles atomically."""
        body = json.dumps({"default": default, "profiles": [asdict(p) for p in profiles]}, indent=2)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".profiles-")
            try:
                with os.fdopen(fd, "w", encoding="utf-8") as fh:
                    fh.write(body)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(tmp)
                raise
        except OSError as exc:
            raise files.problem(exc, "the connection profiles file", self.path) from exc

    def upsert(self, profile: ConnectionProfile, *, make_default: bool = False) -> ConnectionProfile:
        """Add or replace a profile (validated)."""
        clean = profile.validated()
        profiles, default = self.load()
        profiles = [p for p in profiles if p.id != clean.id] + [clean]
        self.save(profiles, clean.id if make_default or default is None else default)
        return clean

    def remove(self, profile_id: str) -> None:
        """Delete a profile (its workspace folder is left on disk)."""
        profiles, default = self.load()
        remaining = [p for p in profiles if p.id != profile_id]
        if default == profile_id:
            default = remaining[0].id if remaining else None
        self.save(remaining, default)

    def default(self) -> ConnectionProfile | None:
        """The default profile, if any."""
        profiles, default = self.load()
        return next((p for p in profiles if p.id == default), profiles[0] if profiles else None)
