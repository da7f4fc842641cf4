"""MQL5 Expert Advisor projects and their versions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from tnm_desktop.domain import convert as c


class VersionOrigin(StrEnum):
    """How a version was made."""

    MANUAL = "manual"
    GENERATED = "generated"
    IMPORTED = "imported"


@dataclass(frozen=True, slots=True)
class EaProject:
    """An Expert Advisor project."""

    id: str
    name: str
    description: str
    symbol: str | None
    timeframe: str | None
    current_version_id: str | None
    created_at: datetime
    updated_at: datetime
    # The version an agent last put in its terminal (a deploy, or a run or test that deployed first).
    deployed_version_id: str | None = None
    deployed_at: datetime | None = None

    @classmethod
    def from_row(cls, row: c.Row) -> EaProject:
        """Build from an ``ea_projects`` row."""
        return cls(
            id=c.text(row["id"]), name=c.text(row["name"]), description=str(row.get("description") or ""),
            symbol=c.opt_text(row.get("symbol")), timeframe=c.opt_text(row.get("timeframe")),
            current_version_id=c.opt_text(row.get("current_version_id")),
            created_at=c.moment(row["created_at"]), updated_at=c.moment(row["updated_at"]),
            deployed_version_id=c.opt_text(row.get("deployed_version_id")),
            deployed_at=c.opt_moment(row.get("deployed_at")),
        )


@dataclass(frozen=True, slots=True)
class EaVersion:
    """One saved version. ``source_code`` is None in listings (fetched on demand)."""

    id: str
    project_id: str
    version_number: int
    origin: VersionOrigin
    note: str
    parameters: dict[str, Any] | None
    compile_status: str
    compile_log: str | None
    compiled_at: datetime | None
    created_at: datetime
    source_code: str | None = None

    @classmethod
    def from_row(cls, row: c.Row) -> EaVersion:
        """Build from an ``ea_versions`` row (with or without ``source_code``)."""
        params = row.get("parameters")
        return cls(
            id=c.text(row["id"]), project_id=c.text(row["project_id"]),
            version_number=int(row["version_number"]), origin=VersionOrigin(row.get("origin") or "manual"),
            note=str(row.get("note") or ""), parameters=c.json_object(params) if params is not None else None,
            compile_status=str(row.get("compile_status") or "not_compiled"),
            compile_log=c.opt_text(row.get("compile_log")), compiled_at=c.opt_moment(row.get("compiled_at")),
            created_at=c.moment(row["created_at"]), source_code=c.opt_text(row.get("source_code")),
        )


@dataclass(frozen=True, slots=True)
class NewVersion:
    """A version about to be saved."""

    source_code: str
    origin: VersionOrigin = VersionOrigin.MANUAL
    note: str = ""
    parameters: dict[str, Any] | None = None
