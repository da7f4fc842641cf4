"""Which webhook URL the trader is shown, and whether TradingView can reach it."""

from __future__ import annotations

from pathlib import Path

import pytest
from tnm_desktop.composition.local_receiver import LocalReceiver
from tnm_desktop.profiles import ConnectionProfile, ProfileKind
from tnm_desktop.services import Services
from tnm_desktop.webhook.urls import reachability_problem
from tnm_desktop.workspace import Workspace

PROJECT = "https://abcd1234.supabase.co"


def services(kind: ProfileKind, base: str, receiver: LocalReceiver | None = None) -> Services:
    profile = ConnectionProfile.new("p", kind, supabase_url=PROJECT, workspace_dir="/x", webhook_base_url=base)
    return Services(profile, data=None, receiver=receiver)  # type: ignore[arg-type]  # no data needed


@pytest.fixture
def pinned(tmp_path: Path) -> LocalReceiver:
    """A workspace's receiver pinned to port 8790 (not started: the URL is shown all the same)."""
    workspace = Workspace(tmp_path)
    workspace.update_settings(receiver_port=8790)
    return LocalReceiver(workspace, "postgresql://unused")


@pytest.mark.parametrize(("base", "shown"), [
    ("", "http://127.0.0.1:8790"),
    ("http://127.0.0.1:8787", "http://127.0.0.1:8790"),  # what profiles held before: automatic
    ("http://localhost:9999", "http://127.0.0.1:8790"),  # this computer is the receiver's port, always
    ("https://abc.trycloudflare.com", "https://abc.trycloudflare.com"),
])
def test_a_workspace_shows_its_pinned_port_or_the_public_address(pinned: LocalReceiver, base: str,
                                                                  shown: str) -> None:
    assert services(ProfileKind.LOCAL, base, pinned).webhook_base_url == shown


@pytest.mark.parametrize(("base", "shown"), [
    ("", f"{PROJECT}/functions/v1"),
    ("http://127.0.0.1:8787", f"{PROJECT}/functions/v1"),
    ("https://hooks.example.com", "https://hooks.example.com"),  # a receiver of the trader's own
])
def test_a_supabase_project_shows_its_edge_function(base: str, shown: str) -> None:
    assert services(ProfileKind.SUPABASE, base).webhook_base_url == shown


@pytest.mark.parametrize(("base", "problem"), [
    ("http://127.0.0.1:8787", "TradingView cannot reach 127.0.0.1: it is this computer's own address"),
    ("http://localhost", "TradingView cannot reach localhost"),
    ("http://[::1]:8787", "TradingView cannot reach ::1"),
    ("http://192.168.1.20", "TradingView cannot reach 192.168.1.20: it is an address inside your own network."),
    ("http://desk-pc.local", "inside your own network"),
    ("https://hooks.example.com:8443", "only sends alerts to port 443 (https) or 80 (http); this address uses "
                                       "port 8443"),
    ("https://abc.trycloudflare.com", None),
    (f"{PROJECT}/functions/v1", None),
    ("http://hooks.example.com:80", None),
])
def test_what_tradingview_cannot_reach_is_named(base: str, problem: str | None) -> None:
    found = reachability_problem(base)
    assert (found is None) if problem is None else (found is not None and problem in found), found
