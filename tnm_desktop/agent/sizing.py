"""Order volume from the trader's risk and the symbol's contract data.

Risk sizing: the money at risk is ``balance × risk %``; one lot loses
``stop distance / tick size × tick value`` (in account currency) if the stop is hit; the volume is
their ratio, rounded DOWN to the symbol's volume step (never more risk than asked), and refused
when even the minimum volume would risk more than asked. Fixed lots are rounded down to the step.
Both are capped by the symbol's maximum and the trader's ``max_lot_size``.

A pip is the symbol's own (:mod:`tnm_desktop.domain.pips`): ten points on 5- and 3-digit FX
quotes, ten points on metals (0.10 on XAUUSD 2650.12), one index point on indices — or what the
broker connection sets for the symbol.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from tnm_desktop.domain.pips import InstrumentKind, pip_size
from tnm_desktop.errors import UserError


@dataclass(frozen=True, slots=True)
class Contract:
    """The contract data sizing needs (from ``symbol_info``)."""

    name: str
    digits: int
    point: float
    tick_size: float
    tick_value: float  # account currency per tick per lot (for a loss)
    volume_min: float
    volume_step: float
    volume_max: float
    kind: InstrumentKind = InstrumentKind.FX
    pip_override: float | None = None  # the broker connection's pip size for the symbol
    stops_level: int = 0  # minimum SL/TP distance from the market, in points

    @property
    def pip(self) -> float:
        """Price distance of one pip."""
        return pip_size(self.kind, self.digits, self.point, self.pip_override)


@dataclass(frozen=True, slots=True)
class Sized:
    """The volume to send and how it was reached (shown in the job result)."""

    volume: float
    risk_money: float | None
    loss_per_lot: float | None
    note: str = ""


def _down_to_step(value: float, step: float) -> float:
    steps = (Decimal(repr(value)) / Decimal(repr(step))).to_integral_value(rounding=ROUND_DOWN)
    return float(steps * Decimal(repr(step)))


def stop_distance(contract: Contract, entry: float, *, pips: float | None, price: float | None) -> float:
    """Price distance from entry to a stop given in pips or as a price."""
    if pips is not None:
        return round(pips * contract.pip, contract.digits + 2)
    if price is not None:
        # Both prices sit on the symbol's grid; unrounded, their difference can exceed the grid step
        # and the volume would round down a whole step.
        # (1.08 - 1.0775 is 0.0025000000000001688.)
        return round(abs(entry - price), contract.digits)
    raise UserError("A stop needs pips or a price.", code="invalid_payload")


def loss_per_lot(contract: Contract, distance: float) -> float:
    """Account-currency loss of one lot over ``distance``."""
    if contract.tick_size <= 0 or contract.tick_value <= 0:
        raise UserError(f"{contract.name} has no usable tick value; cannot size by risk.", code="no_tick_value")
    return distance / contract.tick_size * contract.tick_value


def _cap(contract: Contract, volume: float, max_lot_size: float | None) -> tuple[float, str]:
    ceiling = min(contract.volume_max, max_lot_size) if max_lot_size else contract.volume_max
    if volume > ceiling:
        capped = _down_to_step(ceiling, contract.volume_step)
        return capped, f"capped at {capped:g} lots (maximum)"
    return volume, ""


def size_by_risk(contract: Contract, *, balance: float, risk_pct: float, distance: float,
                 max_lot_size: float | None = None) -> Sized:
    """Volume that risks ``risk_pct`` % of ``balance`` with a stop ``distance`` away."""
    if distance <= 0:
        raise UserError("The stop is at the entry price; cannot size by risk.", code="invalid_stop")
    risk_money = balance * risk_pct / 100
    per_lot = loss_per_lot(contract, distance)
    raw = risk_money / per_lot
    volume = _down_to_step(raw, contract.volume_step)
    if volume < contract.volume_min:
        minimum_risk = per_lot * contract.volume_min
        raise UserError(
            f"A {risk_pct:g} % risk ({risk_money:.2f}) is less than the smallest order risks: "
            f"{contract.volume_min:g} lots of {contract.name} lose {minimum_risk:.2f} at this stop. "
            "Raise the risk, tighten the stop, or trade fixed lots.", code="risk_too_small")
    volume, note = _cap(contract, volume, max_lot_size)
    return Sized(volume, risk_money, per_lot, note)


def size_fixed(contract: Contract, lots: float, *, max_lot_size: float | None = None) -> Sized:
    """A fixed volume, rounded down to the step and checked against the symbol's limits."""
    volume = _down_to_step(lots, contract.volume_step)
    if volume < contract.volume_min:
        raise UserError(f"{lots:g} lots is below the minimum of {contract.volume_min:g} for {contract.name}.",
                        code="volume_too_small")
    volume, note = _cap(contract, volume, max_lot_size)
    if volume != lots and not note:
        note = f"rounded to {volume:g} lots (step {contract.volume_step:g})"
    return Sized(volume, None, None, note)
