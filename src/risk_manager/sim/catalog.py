"""The simulator's contract catalog (a copy of the captured `Contract/available` list) and fee table."""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

# Roots (symbolId tail) of micro contracts: lower exchange fees.
_MICRO_ROOTS = {
    "MNQ", "MES", "M2K", "MYM", "MGC", "MCLE", "MNG", "MHG", "SIL", "M6A", "M6B", "M6E", "MBT", "GMET",
}
MICRO_FEES = (0.37, 0.25)  # (fees, commissions) per contract per fill; MYM/MNQ as captured
STANDARD_FEES = (1.40, 0.50)

# Plausible starting prices (2026 levels, matching the captured samples where there is one).
_BASE_PRICES = {
    "MNQ": 29547.0, "ENQ": 29547.0, "MES": 7730.5, "EP": 7730.5, "RTY": 2450.0, "M2K": 2450.0,
    "YM": 49909.0, "MYM": 49909.0, "CLE": 65.0, "MCLE": 65.0, "NQM": 65.0, "GCE": 4100.0, "MGC": 4100.0,
    "NGE": 3.2, "MNG": 3.2, "NQG": 3.2, "SIE": 48.0, "SIL": 48.0, "USA": 115.0, "ULA": 118.0,
    "TYA": 111.0, "FVA": 108.0, "TUA": 103.5, "TNA": 113.0, "EU6": 1.17, "M6E": 1.17, "EEU": 1.17,
    "BP6": 1.35, "M6B": 1.35, "JY6": 0.0068, "DA6": 0.66, "M6A": 0.66, "CA6": 0.73, "SF6": 1.25,
    "MBT": 110000.0, "GMET": 4200.0, "NKD": 45000.0, "EMD": 3200.0,
}


@dataclass(frozen=True, slots=True)
class SimContract:
    id: str
    name: str
    description: str
    tick_size: float
    tick_value: float
    active: bool
    symbol_id: str

    @property
    def root(self) -> str:
        return self.symbol_id.rsplit(".", 1)[-1]

    @property
    def display_name(self) -> str:
        """`contractDisplayName` on positions: name with a two-digit year (`MNQU26`)."""
        return self.name[:-1] + self.id[-2:] if self.id[-2:].isdigit() else self.name

    def to_wire(self) -> dict[str, Any]:
        return {
            "id": self.id, "name": self.name, "description": self.description,
            "tickSize": self.tick_size, "tickValue": self.tick_value,
            "activeContract": self.active, "symbolId": self.symbol_id,
        }

    def round_to_tick(self, price: float) -> float:
        return align(price, self.tick_size)

    def base_price(self) -> float:
        return self.round_to_tick(_BASE_PRICES.get(self.root, self.tick_size * 10_000))

    def default_fees(self) -> tuple[float, float]:
        return MICRO_FEES if self.root in _MICRO_ROOTS else STANDARD_FEES


def align(price: float, tick: float) -> float:
    """Round to the tick grid without binary noise (0.1 + 0.2 style) leaking into the wire."""
    ticks = round(price / tick)
    return round(ticks * tick, 10)


def is_aligned(price: float, tick: float) -> bool:
    return abs(price / tick - round(price / tick)) < 1e-6


def load_catalog() -> dict[str, SimContract]:
    raw = json.loads(resources.files("risk_manager.sim").joinpath("data/contracts.json").read_text())
    catalog = {}
    for row in raw:
        contract = SimContract(
            id=row["id"], name=row["name"], description=row["description"],
            tick_size=float(row["tickSize"]), tick_value=float(row["tickValue"]),
            active=bool(row["activeContract"]), symbol_id=row["symbolId"],
        )
        catalog[contract.id] = contract
    return catalog
