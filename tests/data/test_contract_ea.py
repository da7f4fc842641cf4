"""Contract: EA projects, versions, switching and the current version."""

from __future__ import annotations

import pytest
from tnm_desktop.domain import NewVersion, VersionOrigin
from tnm_desktop.errors import UserError

from tests.data.backends import Backend


async def test_versions_are_numbered_listed_newest_first_and_switchable(backend: Backend) -> None:
    port = await backend.signed_in(backend.db.create_user())
    project, first = await port.create_ea_project(
        "MA cross", NewVersion("// v1", VersionOrigin.GENERATED, "from template", {"fast": 10}),
        description="Moving-average cross", symbol="EURUSD", timeframe="H1")
    assert project.current_version_id == first.id
    assert (first.version_number, first.origin, first.parameters, first.source_code) == \
        (1, VersionOrigin.GENERATED, {"fast": 10}, "// v1")
    second = await port.save_ea_version(project.id, NewVersion("// v2", note="tighter stop"))
    third = await port.save_ea_version(project.id, NewVersion("// v3"))
    listed = await port.list_ea_versions(project.id)
    assert [v.version_number for v in listed] == [3, 2, 1]
    assert all(v.source_code is None for v in listed)
    (reloaded,) = await port.list_ea_projects()
    assert reloaded.current_version_id == third.id

    switched = await port.switch_ea_version(project.id, second.id)
    assert switched.current_version_id == second.id
    assert (await port.get_ea_version(second.id)).source_code == "// v2"


async def test_cannot_switch_to_another_projects_version(backend: Backend) -> None:
    port = await backend.signed_in(backend.db.create_user())
    one, _ = await port.create_ea_project("One", NewVersion("// one"))
    _, other_version = await port.create_ea_project("Two", NewVersion("// two"))
    with pytest.raises(UserError):
        await port.switch_ea_version(one.id, other_version.id)


async def test_duplicate_project_name_and_delete(backend: Backend) -> None:
    port = await backend.signed_in(backend.db.create_user())
    project, _ = await port.create_ea_project("Breakout", NewVersion("// b"))
    with pytest.raises(UserError) as raised:
        await port.create_ea_project("Breakout", NewVersion("// b2"))
    assert raised.value.message == "You already have an EA project with that name."
    await port.delete_ea_project(project.id)
    assert await port.list_ea_projects() == []
