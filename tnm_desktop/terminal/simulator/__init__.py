"""A MetaTrader 5 terminal simulator that offers the ``MetaTrader5`` module's API.

:class:`~tnm_desktop.terminal.simulator.api.SimulatedMt5` is the in-process terminal;
``tnm-desktop simulator serve --state FILE`` runs the same engine as a process of its own, and
:class:`~tnm_desktop.terminal.simulator.client.RemoteMt5` talks to it. Both have a ``control``
attribute (prices, clock, connection, auto-trading, fault injection) apart from the MT5 API.
"""
