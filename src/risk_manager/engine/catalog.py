"""Contract catalog: tick size/value and trader symbol <-> ProjectX root, from the Contract API.

Trader symbols (ES, NQ, CL…) come from the contract `name` (ESU6 → ES); ProjectX roots (EP, ENQ,
CLE…) from `symbolId` (F.US.EP → EP) or the contract id. A contract whose name is not an exchange
code takes its trader symbol from the shared instrument table (risk_manager.instruments, the same
table `config validate` resolves spellings with). Tick data is never guessed: a contract id the
catalog has not been given is recorded in `needs_lookup` so the daemon can fetch it over REST and
`add` it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from risk_manager.events import Contract
from risk_manager.instruments import KNOWN, projectx_root, root_of_contract_name

__all__ = ["ContractCatalog", "ContractError", "contract_from_model", "projectx_root",
           "trader_symbol_from_name"]


def trader_symbol_from_name(name: str) -> str | None:
    """ESU6 → ES; None when the name does not look like an exchange contract code."""
    return root_of_contract_name(name)


class ContractError(ValueError):
    pass


def contract_from_model(row: Mapping[str, Any], where: str = "contract") -> Contract:
    """A ContractModel dict (Contract API shape) → Contract, with errors naming the bad field."""
    try:
        cid = row["id"]
        name = row["name"]
        tick_size = float(row["tickSize"])
        tick_value = float(row["tickValue"])
    except KeyError as exc:
        raise ContractError(f"{where}: missing field {exc.args[0]!r}") from None
    except (TypeError, ValueError):
        raise ContractError(f"{where}: tickSize/tickValue must be numbers") from None
    if not isinstance(cid, str) or not isinstance(name, str):
        raise ContractError(f"{where}: id and name must be strings")
    if tick_size <= 0 or tick_value <= 0:
        raise ContractError(f"{where} ({cid}): tickSize and tickValue must be > 0")
    return Contract(
        id=cid,
        name=name,
        tick_size=tick_size,
        tick_value=tick_value,
        symbol_id=row.get("symbolId"),
        description=row.get("description"),
        active_contract=bool(row.get("activeContract", True)),
    )


class ContractCatalog:
    def __init__(self, contracts: Iterable[Contract] = ()) -> None:
        self._by_id: dict[str, Contract] = {}
        self._symbol: dict[str, str] = {}  # contract id → trader symbol
        self._root: dict[str, str] = {}  # contract id → ProjectX root
        self._root_to_symbol: dict[str, str] = {}
        self._micro: set[str] = set()
        #: Contract ids seen but unknown: the daemon fetches these and calls `add`.
        self.needs_lookup: set[str] = set()
        for contract in contracts:
            self.add(contract)

    # -- building ------------------------------------------------------------------------
    def add(self, contract: Contract) -> None:
        self._by_id[contract.id] = contract
        root = projectx_root(contract.symbol_id or "") or projectx_root(contract.id)
        symbol = trader_symbol_from_name(contract.name) or (
            KNOWN.trader_root_of_projectx(root) if root else None)
        if root:
            self._root[contract.id] = root
        if symbol:
            self._symbol[contract.id] = symbol
            if root:
                self._root_to_symbol[root] = symbol
        if "micro" in (contract.description or "").lower():
            self._micro.add(contract.id)
        else:
            self._micro.discard(contract.id)
        self.needs_lookup.discard(contract.id)

    @classmethod
    def from_models(cls, rows: Iterable[Mapping[str, Any]]) -> ContractCatalog:
        catalog = cls()
        for i, row in enumerate(rows):
            if not isinstance(row, Mapping):
                raise ContractError(f"contract #{i}: expected an object, got {type(row).__name__}")
            catalog.add(contract_from_model(row, where=f"contract #{i}"))
        return catalog

    @classmethod
    def from_file(cls, path: str | Path) -> ContractCatalog:
        data = json.loads(Path(path).read_text())
        if isinstance(data, dict) and "contracts" in data:  # a full Contract/available response
            data = data["contracts"]
        if not isinstance(data, list):
            raise ContractError(f"{path}: expected a list of contracts")
        try:
            return cls.from_models(data)
        except ContractError as exc:
            raise ContractError(f"{path}: {exc}") from None

    @classmethod
    def bundled(cls) -> ContractCatalog:
        """The contract list shipped with the simulator (sim/data/contracts.json); empty if absent."""
        try:
            ref = resources.files("risk_manager.sim").joinpath("data/contracts.json")
            if ref.is_file():
                return cls.from_models(json.loads(ref.read_text()))
        except (ModuleNotFoundError, FileNotFoundError):
            pass
        return cls()

    # -- queries -----------------------------------------------------------------------
    def contract(self, contract_id: str) -> Contract | None:
        found = self._by_id.get(contract_id)
        if found is None:
            self.needs_lookup.add(contract_id)
        return found

    def symbol_of(self, contract_id: str) -> str | None:
        """Trader symbol (ES for CON.F.US.EP.U26); None (and flagged for lookup) when unknown."""
        symbol = self._symbol.get(contract_id)
        if symbol is None and contract_id not in self._by_id:
            self.needs_lookup.add(contract_id)
        return symbol

    def is_micro(self, contract_id: str) -> bool:
        """A micro contract, per the Contract API description ("Micro E-mini …", "E-Micro …")."""
        return contract_id in self._micro

    def root_of(self, contract_id: str) -> str | None:
        return self._root.get(contract_id) or projectx_root(contract_id)

    def symbol_for_root(self, root: str) -> str | None:
        """ProjectX root → trader symbol (EP → ES): the catalog's contracts, else the shared table."""
        return self._root_to_symbol.get(root.upper()) or KNOWN.trader_root_of_projectx(root)

    def __contains__(self, contract_id: object) -> bool:
        return contract_id in self._by_id

    def __len__(self) -> int:
        return len(self._by_id)
