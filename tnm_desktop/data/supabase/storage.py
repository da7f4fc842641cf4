"""The auth client's session storage: in memory, and in the OS keyring only when remembered.

``supabase_auth`` keeps its session in whatever ``storage`` it is given and reads it back on
every ``get_session()``. This storage holds it in memory, and writes it through to the keyring
entry of the connection profile only while :attr:`KeyringStorage.persistent` is set ("remember
me", or a session restored from the keyring). Without it nothing is written to the keyring.
The keyring blocks (D-Bus, a prompt), so every call into it runs in a worker thread.
"""

from __future__ import annotations

import asyncio

from supabase_auth import AsyncSupportedStorage
from supabase_auth.constants import STORAGE_KEY

from tnm_desktop import keystore


class KeyringStorage(AsyncSupportedStorage):
    """Session storage for one connection profile.

    Args:
        entry: The keyring entry of the profile's remembered session.
    """

    def __init__(self, entry: str) -> None:
        self.entry = entry
        self.persistent = False
        self._memory: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"KeyringStorage(entry={self.entry!r}, persistent={self.persistent})"

    async def get_item(self, key: str) -> str | None:
        """The stored value; the session comes from the keyring when persistent and not yet read."""
        if key in self._memory:
            return self._memory[key]
        if self.persistent and key == STORAGE_KEY:
            value = await asyncio.to_thread(keystore.get_secret, self.entry)
            if value is not None:
                self._memory[key] = value
            return value
        return None

    async def set_item(self, key: str, value: str) -> None:
        """Store a value (and the session in the keyring when persistent)."""
        self._memory[key] = value
        if self.persistent and key == STORAGE_KEY:
            await asyncio.to_thread(keystore.set_secret, self.entry, value)

    async def remove_item(self, key: str) -> None:
        """Forget a value (and the remembered session when persistent)."""
        self._memory.pop(key, None)
        if self.persistent and key == STORAGE_KEY:
            await asyncio.to_thread(keystore.delete_secret, self.entry)

    async def forget(self) -> None:
        """Forget the session in memory and in the keyring, whatever the mode."""
        self._memory.pop(STORAGE_KEY, None)
        await self.forget_remembered()

    async def forget_remembered(self) -> None:
        """Delete the keyring entry only (a sign-in without "remember me" replaces it)."""
        await asyncio.to_thread(keystore.delete_secret, self.entry)
