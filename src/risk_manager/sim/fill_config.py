"""Fill-model settings: one default for the simulator, optional overrides per contract.

The same keys everywhere (`Simulator(fills=...)`, `POST /sim/config`, `risk-manager sim` options):
- `fill_latency_ms`: order accepted -> its first fill (0 = inside the REST call);
- `fill_jitter_ms`: the latency varies uniformly by +/- this much (seeded RNG);
- `fill_interval_ms`: between successive fills of one order (0 = one burst);
- `depth`: displayed lots per price level, best first (last repeats); null = unlimited at the touch.
All at their defaults = today's instant fills (one fill, whole, inside the REST call).
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass, replace
from typing import Any

_FIELDS = {
    "fill_latency_ms": "latency_ms", "fill_jitter_ms": "jitter_ms", "fill_interval_ms": "interval_ms",
    "depth": "depth",
}
KEYS = tuple(_FIELDS)
MAX_MS = 60_000.0


@dataclass(frozen=True, slots=True)
class FillSettings:
    latency_ms: float = 0.0
    jitter_ms: float = 0.0
    interval_ms: float = 0.0
    depth: tuple[int, ...] | None = None

    @property
    def instant(self) -> bool:
        return not (self.latency_ms or self.jitter_ms or self.interval_ms) and self.depth is None

    def to_wire(self) -> dict[str, Any]:
        return {
            "fill_latency_ms": self.latency_ms, "fill_jitter_ms": self.jitter_ms,
            "fill_interval_ms": self.interval_ms, "depth": None if self.depth is None else list(self.depth),
        }


def parse_value(key: str, value: Any) -> Any:
    """One setting checked and converted; ValueError names the field."""
    if key == "depth":
        if value is None:
            return None
        if (not isinstance(value, list) or not value
                or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)):
            raise ValueError(f"field 'depth' must be null or a non-empty list of lots >= 1 per level, got {value!r}")
        return tuple(value)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= MAX_MS:
        raise ValueError(f"field {key!r} must be a number of milliseconds in 0..{MAX_MS:.0f}, got {value!r}")
    return float(value)


class FillConfig:
    def __init__(self) -> None:
        self.default = FillSettings()
        self._overrides: dict[str, dict[str, Any]] = {}  # contract id -> {attribute: value}
        self._resolved: dict[str, FillSettings] = {}

    def settings(self, contract_id: str) -> FillSettings:
        found = self._resolved.get(contract_id)
        if found is None:
            found = replace(self.default, **self._overrides.get(contract_id, {}))
            self._resolved[contract_id] = found
        return found

    def update(self, values: dict[str, Any], contract_id: str | None = None) -> None:
        """Apply the known keys of `values` (all checked before any is applied). For a contract, a
        null value drops that override (the default applies again)."""
        unknown = set(values) - set(_FIELDS)
        if unknown:
            raise ValueError(f"unknown fill setting(s) {sorted(unknown)}; known: {', '.join(KEYS)}")
        if contract_id is None:
            self.default = replace(self.default, **{_FIELDS[k]: parse_value(k, v) for k, v in values.items()})
        else:
            checked = {_FIELDS[k]: parse_value(k, v) for k, v in values.items() if v is not None}
            override = self._overrides.setdefault(contract_id, {})
            for key in values:
                override.pop(_FIELDS[key], None)
            override.update(checked)
            if not override:
                del self._overrides[contract_id]
        self._resolved.clear()

    def load(self, spec: dict[str, Any] | None, known: Container[str] | None = None) -> None:
        """The constructor/CLI form: default keys plus `"contracts": {contract id: {keys}}`;
        contract ids must be in `known` when given."""
        if not spec:
            return
        spec = dict(spec)
        contracts = spec.pop("contracts", None) or {}
        if not isinstance(contracts, dict):
            raise ValueError(f"'contracts' must map contract ids to fill settings, got {contracts!r}")
        self.update(spec)
        for contract_id, values in contracts.items():
            if known is not None and contract_id not in known:
                raise ValueError(f"fill settings for unknown contract {contract_id!r}")
            if not isinstance(values, dict):
                raise ValueError(f"fill settings of {contract_id!r} must be an object, got {values!r}")
            self.update(values, contract_id)

    def to_wire(self) -> dict[str, Any]:
        return {
            **self.default.to_wire(),
            "contracts": {cid: self.settings(cid).to_wire() for cid in sorted(self._overrides)},
        }

