"""R11 and R02 act on the instrument whatever spelling the config used (EP, a contract id, a
contract name, any case), and never on another instrument (ES is not MES)."""

import pytest

from engine.engine_helpers import (
    ACCT, ES, MES, NQ, T0, CancelOrder, ClosePosition, PartialClose, engine, locks_set, of, order, pos,
)
from risk_manager.engine.catalog import ContractCatalog
from risk_manager.events import Contract

SPELLINGS = ["ES", "es", "EP", "ep", "CON.F.US.EP.U26", "ESU6", "esz6", "F.US.EP"]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_r11_blocks_es_in_every_spelling(spelling):
    e = engine({"symbol_blocks": {"blocked_symbols": [spelling]}})
    assert e.handle(order(1, MES), T0) == []
    out = e.handle(order(2, ES), T0)
    assert of(out, CancelOrder) == [CancelOrder(ACCT, 2, ES, "R11", "ES is a blocked symbol: cancelling order 2")]
    assert [lock.rule for lock in locks_set(out)] == ["R11:ES"]
    assert of(e.handle(pos(ES, 1, 6400.0), T0), ClosePosition)


@pytest.mark.parametrize("spelling", ["EP", "CON.F.US.EP.U26", "ESU6", "es"])
def test_r02_limit_in_every_spelling(spelling):
    e = engine({"max_contracts_per_instrument": {"limits": {spelling: 1, "MES": 5, "ENQ": 1},
                                                 "unknown_symbol_action": "allow_unlimited"}})
    out = e.handle(pos(ES, 3, 6400.0), T0)
    assert out == [PartialClose(ACCT, ES, 2, "R02", out[0].reason)]
    assert out[0].reason.startswith("Max ES contracts: 3 > 1")
    assert e.handle(pos(MES, 4, 6400.0, pid=2), T0) == []  # MES has its own limit
    assert of(e.handle(pos(NQ, 2, 20000.0, pid=3), T0), PartialClose)  # ENQ is NQ


def test_catalog_takes_the_table_when_a_contract_name_is_not_an_exchange_code():
    # A gateway that names a contract in its own words still maps it by its ProjectX root.
    cat = ContractCatalog([Contract("CON.F.US.EP.H27", "E-mini S&P Mar 27", 0.25, 12.5, "F.US.EP")])
    assert cat.symbol_of("CON.F.US.EP.H27") == "ES"
    assert ContractCatalog().symbol_for_root("ep") == "ES"
