"""Known instruments: the trader's root (ES) and the ProjectX root (EP) of every product, and the
resolution of any spelling of an instrument to its trader root.

One table for the config validator (offline: `config validate` has no gateway) and the contract
catalog (which adds what the live Contract API says). It holds names only: tick size and tick value
always come from the Contract API. Source: the ProjectX contract list (`Contract/available`, 51
products, 2026) and the documented roots of the gateway reference (§10).

Spellings accepted, case-insensitive: trader root (``ES``), ProjectX root (``EP``), contract name
(``ESZ6``, also with a two-digit year as in ``contractDisplayName``: ``ESZ26``), contract id
(``CON.F.US.EP.U26``) and symbol id (``F.US.EP``). ``ES`` and ``MES`` are different instruments.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping

#: Trader (exchange) root -> ProjectX root (the `symbolId` tail, F.US.<root>).
PROJECTX_ROOTS: Mapping[str, str] = {
    # equity index
    "ES": "EP", "MES": "MES", "NQ": "ENQ", "MNQ": "MNQ", "RTY": "RTY", "M2K": "M2K",
    "YM": "YM", "MYM": "MYM", "EMD": "EMD", "NKD": "NKD",
    # energy
    "CL": "CLE", "MCL": "MCLE", "QM": "NQM", "NG": "NGE", "QG": "NQG", "MNG": "MNG",
    "HO": "HOE", "RB": "RBE",
    # metals
    "GC": "GCE", "MGC": "MGC", "SI": "SIE", "SIL": "SIL", "HG": "CPE", "MHG": "MHG", "PL": "PLE",
    # currencies
    "6A": "DA6", "6B": "BP6", "6C": "CA6", "6E": "EU6", "6J": "JY6", "6S": "SF6", "6N": "NE6",
    "6M": "MX6", "E7": "EEU", "M6A": "M6A", "M6B": "M6B", "M6E": "M6E", "MCD": "GMCD",
    # interest rates
    "ZT": "TUA", "ZF": "FVA", "ZN": "TYA", "TN": "TNA", "ZB": "USA", "UB": "ULA", "SR3": "SR3",
    # agriculture and livestock
    "ZC": "ZCE", "ZS": "ZSE", "ZW": "ZWA", "ZL": "ZLE", "ZM": "ZME",
    "LE": "GLE", "HE": "HE", "GF": "GF",
    # crypto
    "MBT": "MBT", "MET": "GMET",
}

#: Exchange-style contract name: root, month code, 1- or 2-digit year (ESU6, SR3Z5, 6EU6, MNQU26).
CONTRACT_NAME_RE = re.compile(r"^(?P<root>[A-Z0-9]+?)(?P<month>[FGHJKMNQUVXZ])(?P<year>\d{1,2})$")


def root_of_contract_name(name: str) -> str | None:
    """ESU6 -> ES; None when the text is not shaped like an exchange contract code."""
    match = CONTRACT_NAME_RE.match(name.strip().upper())
    return match.group("root") if match else None


def projectx_root(contract_id_or_symbol_id: str) -> str | None:
    """CON.F.US.EP.U26 -> EP; F.US.EP -> EP; None for anything else."""
    parts = contract_id_or_symbol_id.strip().upper().split(".")
    if len(parts) == 5 and parts[0] == "CON" and all(parts):
        return parts[3]
    if len(parts) == 3 and all(parts):
        return parts[2]
    return None


class InstrumentTable:
    """Trader roots and ProjectX roots, both ways. `extra` pairs (trader root, ProjectX root) add
    products the shipped table lacks (the catalog passes what the live Contract API reported)."""

    def __init__(self, pairs: Mapping[str, str] = PROJECTX_ROOTS) -> None:
        self._px_of: dict[str, str] = {}
        self._trader_of_px: dict[str, str] = {}
        for trader, px in pairs.items():
            self.add(trader, px)

    def add(self, trader_root: str, projectx_root: str) -> None:
        trader, px = trader_root.upper(), projectx_root.upper()
        self._px_of[trader] = px
        self._trader_of_px[px] = trader

    def trader_roots(self) -> list[str]:
        return sorted(self._px_of)

    def projectx_root_of(self, trader_root: str) -> str | None:
        return self._px_of.get(trader_root.upper())

    def trader_root_of_projectx(self, projectx_root_: str) -> str | None:
        """EP -> ES (only for roots in the table)."""
        return self._trader_of_px.get(projectx_root_.upper())

    def resolve(self, spelling: str) -> str | None:
        """Any spelling of an instrument -> its trader root; None when no known instrument."""
        text = spelling.strip().upper()
        if not text:
            return None
        if text in self._px_of:  # trader roots first: ES is ES even if some ProjectX root were "ES"
            return text
        if text in self._trader_of_px:
            return self._trader_of_px[text]
        if "." in text:
            px = projectx_root(text)
            return self._trader_of_px.get(px) if px else None
        root = root_of_contract_name(text)
        if root in self._px_of:
            return root
        return None

    def suggest(self, spelling: str) -> str | None:
        """The closest known spelling (for a did-you-mean), or None."""
        text = spelling.strip().upper()
        if "." in text:
            text = projectx_root(text) or text
        else:
            text = root_of_contract_name(text) or text
        names = list(self._px_of) + list(self._trader_of_px)
        close = difflib.get_close_matches(text, names, n=1, cutoff=0.5)
        return close[0] if close else None


#: The shipped table (read-only by convention; copy with `InstrumentTable()` to extend).
KNOWN = InstrumentTable()


class UnknownInstrument(ValueError):
    def __init__(self, spelling: str, suggestion: str | None) -> None:
        self.spelling = spelling
        self.suggestion = suggestion
        if suggestion:
            text = f"unknown instrument {spelling!r}; did you mean {suggestion!r}?"
        else:
            text = (f"unknown instrument {spelling!r}: write a trader root (ES), ProjectX root (EP), "
                    f"contract name (ESZ6) or contract id (CON.F.US.EP.Z26) of a known instrument")
        super().__init__(text)


def resolve_instrument(spelling: str, table: InstrumentTable = KNOWN) -> str:
    """The trader root of `spelling`, or UnknownInstrument (with a did-you-mean)."""
    found = table.resolve(spelling)
    if found is None:
        raise UnknownInstrument(spelling.strip(), table.suggest(spelling))
    return found

