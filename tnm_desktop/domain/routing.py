"""The broker connections a strategy trades on (``strategy_connections``)."""

from __future__ import annotations

from dataclasses import dataclass

from tnm_desktop.domain import convert as c


@dataclass(frozen=True, slots=True)
class StrategyConnection:
    """One broker connection of a strategy: each alert becomes one job on it.

    ``volume_multiplier`` scales the alert's lots (or its risk, when ``risk_pct`` is not set);
    ``risk_pct`` replaces the alert's risk on this account.
    """

    broker_connection_id: str
    volume_multiplier: float = 1.0
    risk_pct: float | None = None

    @classmethod
    def from_row(cls, row: c.Row) -> StrategyConnection:
        """Build from a ``strategy_connections`` row."""
        return cls(c.text(row["broker_connection_id"]), c.number(row.get("volume_multiplier", 1)),
                   c.opt_number(row.get("risk_pct")))

    def to_json(self) -> dict[str, object]:
        """What ``set_strategy_connections`` takes."""
        return {"broker_connection_id": self.broker_connection_id, "volume_multiplier": self.volume_multiplier,
                "risk_pct": self.risk_pct}
