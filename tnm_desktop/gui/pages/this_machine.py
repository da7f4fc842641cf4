"""Which agent is this machine's: the one whose pairing key is in this machine's keyring."""

from __future__ import annotations

from tnm_desktop.agent import pairing
from tnm_desktop.domain import Agent
from tnm_desktop.gui.pages.context import ViewContext


async def this_machines_agent(ctx: ViewContext) -> Agent | None:
    """The agent whose key is in this machine's keyring (the running one first)."""
    agents = [a for a in await ctx.services.data.list_agents() if a.paired]
    running = getattr(ctx.agent.control, "agent_id", None)
    agents.sort(key=lambda a: (a.id == running, a.last_heartbeat_at or a.created_at), reverse=True)
    for agent in agents:
        if await pairing.load_credentials(agent.id) is not None:
            return agent
    return None
