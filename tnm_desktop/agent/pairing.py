"""Pairing this machine as an MT5 agent.

A pairing key is ``pk_`` and 32 random bytes in hex. The full key goes to the OS keyring only;
the database gets its SHA-256 (what each agent call is checked against), its bcrypt hash (the
column the seed asks for; ``$2a$``, the prefix every bcrypt implementation reads, pgcrypto's too)
and the display prefix ``pk_`` + 8 characters. bcrypt is slow by design, so hashing runs in a
worker thread, as do the keyring calls.
"""

from __future__ import annotations

import asyncio
import hashlib
import platform
import secrets

import bcrypt

from tnm_desktop import keystore
from tnm_desktop.data.port import DataPort
from tnm_desktop.domain import Agent, AgentCredentials, PairingKeyHashes

BCRYPT_ROUNDS = 12


def new_key() -> str:
    """A fresh pairing key."""
    return "pk_" + secrets.token_hex(32)


def prefix_of(key: str) -> str:
    """What the UI shows of a key: ``pk_`` and its first 8 characters."""
    return key[:11]


def hash_key(key: str, rounds: int = BCRYPT_ROUNDS) -> PairingKeyHashes:
    """What the database keeps of a key: its bcrypt hash, SHA-256 and prefix (blocking)."""
    hashed = bcrypt.hashpw(key.encode(), bcrypt.gensalt(rounds=rounds, prefix=b"2a")).decode()
    return PairingKeyHashes(hashed, hashlib.sha256(key.encode()).hexdigest(), prefix_of(key))


def secret_name(agent_id: str) -> str:
    """The keyring entry holding an agent's key."""
    return f"agent-key:{agent_id}"


def password_name(agent_id: str) -> str:
    """The keyring entry holding the MT5 terminal password used by an agent."""
    return f"mt5-password:{agent_id}"


async def pair_machine(data: DataPort, name: str, *, rounds: int = BCRYPT_ROUNDS) -> tuple[Agent, AgentCredentials]:
    """Register this machine as a new agent; the key goes to the keyring."""
    key = new_key()
    hashed = await asyncio.to_thread(hash_key, key, rounds)
    agent = await data.create_agent(name, platform.node(), hashed)
    await asyncio.to_thread(keystore.set_secret, secret_name(agent.id), key)
    return agent, AgentCredentials(agent.id, key)


async def re_pair(data: DataPort, agent_id: str, *, rounds: int = BCRYPT_ROUNDS) -> tuple[Agent, AgentCredentials]:
    """Give an agent a new key; the old one stops working at once."""
    key = new_key()
    hashed = await asyncio.to_thread(hash_key, key, rounds)
    agent = await data.set_agent_key(agent_id, hashed)
    await asyncio.to_thread(keystore.set_secret, secret_name(agent.id), key)
    return agent, AgentCredentials(agent.id, key)


async def revoke(data: DataPort, agent_id: str) -> Agent:
    """Revoke an agent's key in the database and forget it here."""
    agent = await data.revoke_agent(agent_id)
    await asyncio.to_thread(keystore.delete_secret, secret_name(agent_id))
    return agent


async def load_credentials(agent_id: str) -> AgentCredentials | None:
    """The credentials of an agent paired on this machine, if its key is in the keyring."""
    key = await asyncio.to_thread(keystore.get_secret, secret_name(agent_id))
    return AgentCredentials(agent_id, key) if key else None
