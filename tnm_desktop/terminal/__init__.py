"""The MetaTrader 5 terminal behind a port: the real adapter, the simulator and what they share.

Nothing here imports Qt or asyncio; calls block and are meant for the agent's own thread.
"""
