"""EA jobs act on the version they name.

Compile, deploy, run and test jobs carry ``version_id``; the agent remembers, per project, which
version its last good build and its terminal hold (``<state_dir>/ea-versions.json``). A deploy of
another version than the one built compiles it first; a run or a test of another version than the
one deployed deploys it first (compiling it if need be). So the job history and the terminal
always agree, and every deploy, run and test reports the version the terminal now holds
(``deployed_version_id``), which the database records on the project (migration 20251211000300).
Without the state file (lost, or another machine), the versions are unknown: they are built and
deployed again, which is slower, never wrong.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from dataclasses import asdict
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from tnm_desktop.data.port import AgentPort
from tnm_desktop.domain import EaVersion, JobType
from tnm_desktop.domain.convert import to_json
from tnm_desktop.ea.port import EaInput, EaToolchain, RunRequest, TestRequest
from tnm_desktop.errors import OperationalError, UserError


def project_name(payload: dict[str, Any]) -> str:
    """The name of the EA's files on the agent: the project's, the same for every version."""
    raw = str(payload.get("project") or payload.get("project_name") or "")
    name = re.sub(r"[^A-Za-z0-9_]+", "_", raw).strip("_")
    return name or "TNM_EA_" + str(payload.get("version_id", "x")).replace("-", "")[:8]


class EaJobs:
    """Runs EA jobs on a toolchain, each on its job's version.

    Args:
        data: Where the versions' sources are read.
        toolchain: MetaEditor and the terminal (or their simulation); None refuses every EA job.
        state_dir: Where the built and deployed versions are remembered (None: in memory only).
    """

    def __init__(self, data: AgentPort, toolchain: EaToolchain | None, state_dir: Path | None = None) -> None:
        self.data = data
        self.toolchain = toolchain
        self._path = state_dir / "ea-versions.json" if state_dir is not None else None
        self._state: dict[str, dict[str, str | None]] = self._load()

    async def run(self, kind: JobType, payload: dict[str, Any]) -> dict[str, Any]:
        """Do one EA job; return its result."""
        toolchain = self.toolchain
        if toolchain is None:
            raise OperationalError("No EA toolchain is configured on this agent.", code="no_toolchain")
        project = project_name(payload)
        if kind is JobType.STOP:
            return (await asyncio.to_thread(toolchain.stop, project)).to_json()
        version = await self._version(payload)
        steps: list[str] = []
        if kind is JobType.COMPILE:
            result = await self._compile(toolchain, project, version)
            return result | _version_fields(version)
        if kind is JobType.DEPLOY:
            result = await self._deploy(toolchain, project, version, steps)
        elif kind is JobType.RUN:
            await self._ensure_deployed(toolchain, project, version, steps)
            request = RunRequest(project, str(payload.get("symbol") or "EURUSD"),
                                 str(payload.get("timeframe") or "H1"), _inputs(payload))
            result = (await asyncio.to_thread(toolchain.run, request)).to_json()
        elif kind is JobType.TEST:
            await self._ensure_deployed(toolchain, project, version, steps)
            result = to_json(asdict(await asyncio.to_thread(toolchain.test, _test_request(project, payload))))
        else:
            raise UserError(f"This agent cannot run {kind.value} jobs.", code="unsupported_job")
        if steps:
            result["log"] = "\n".join(steps) + ("\n\n" + str(result["log"]) if result.get("log") else "")
        return result | _version_fields(version) | {"deployed_version_id": version.id, "steps": steps}

    def deployed(self, project: str) -> str | None:
        """The version this agent's terminal holds for a project, if known."""
        return self._state.get(project, {}).get("deployed")

    # The steps ------------------------------------------------------------------------------

    async def _version(self, payload: dict[str, Any]) -> EaVersion:
        version_id = payload.get("version_id")
        if not version_id:
            raise UserError("The job names no version of the EA.", code="invalid_payload")
        version = await self.data.get_ea_version(str(version_id))
        project_id = payload.get("project_id")
        if project_id and version.project_id != project_id:
            raise UserError("The version named is not one of this project's.", code="invalid_payload")
        return version

    async def _compile(self, toolchain: EaToolchain, project: str, version: EaVersion) -> dict[str, Any]:
        compiled = await asyncio.to_thread(toolchain.compile, project, version.source_code or "")
        self._remember(project, built=version.id if compiled.success else None)
        return compiled.to_json()

    async def _deploy(self, toolchain: EaToolchain, project: str, version: EaVersion,
                      steps: list[str]) -> dict[str, Any]:
        if self._state.get(project, {}).get("built") != version.id:
            compiled = await self._compile(toolchain, project, version)
            if not compiled["success"]:
                raise UserError(f"Version {version.version_number} does not compile ({compiled['errors']} "
                                f"error(s)): fix it in EA Studio and compile it, then deploy again.",
                                code="ea_not_compiled")
            steps.append(f"Compiled version {version.version_number} first (the last build was of another "
                         "version).")
        result = (await asyncio.to_thread(toolchain.deploy, project)).to_json()
        self._remember(project, deployed=version.id)
        return result

    async def _ensure_deployed(self, toolchain: EaToolchain, project: str, version: EaVersion,
                               steps: list[str]) -> None:
        if self.deployed(project) == version.id:
            return
        await self._deploy(toolchain, project, version, steps)
        steps.append(f"Deployed version {version.version_number} first (the terminal held another version).")

    # What this agent holds ------------------------------------------------------------------

    def _load(self) -> dict[str, dict[str, str | None]]:
        if self._path is None:
            return {}
        try:
            loaded = json.loads(self._path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        return {str(k): dict(v) for k, v in loaded.items() if isinstance(v, dict)} if isinstance(loaded, dict) else {}

    def _remember(self, project: str, **versions: str | None) -> None:
        self._state.setdefault(project, {}).update(versions)
        if self._path is None:
            return
        with contextlib.suppress(OSError):  # forgetting costs a rebuild, never a wrong version
            self._path.parent.mkdir(parents=True, exist_ok=True)
            temporary = self._path.with_suffix(".tmp")
            temporary.write_text(json.dumps(self._state, indent=2, sort_keys=True), encoding="utf-8")
            temporary.replace(self._path)


def _version_fields(version: EaVersion) -> dict[str, Any]:
    return {"version_id": version.id, "version_number": version.version_number}


def _inputs(payload: dict[str, Any]) -> tuple[EaInput, ...]:
    return tuple(EaInput(str(k), v) for k, v in dict(payload.get("inputs") or {}).items())


def _test_request(project: str, payload: dict[str, Any]) -> TestRequest:
    today = datetime.now(UTC).date()
    return TestRequest(project, str(payload.get("symbol") or "EURUSD"), str(payload.get("timeframe") or "H1"),
                       date.fromisoformat(payload["date_from"]) if payload.get("date_from")
                       else today - timedelta(days=90),
                       date.fromisoformat(payload["date_to"]) if payload.get("date_to") else today,
                       float(payload.get("deposit", 10_000)), _inputs(payload))
