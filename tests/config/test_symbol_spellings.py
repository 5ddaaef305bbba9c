"""Every spelling of an instrument names the same instrument in R02 `limits` and R11
`blocked_symbols`; a name of no known instrument is a config error with file, line, field and a
did-you-mean (SPEC §5 R11 and "Symbols")."""

import json
from importlib import resources
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from config_test_helpers import column_of, edit_text, line_of
from risk_manager.cli import app
from risk_manager.config.models import RiskConfig
from risk_manager.instruments import KNOWN, PROJECTX_ROOTS, resolve_instrument

runner = CliRunner()
FIXTURES = Path(__file__).resolve().parents[2].parent / "shared" / "fixtures" / "projectx-live"
ENV = {"PROJECTX_API_KEY": "k"}


@pytest.mark.parametrize("spelling,root", [
    ("ES", "ES"), ("es", "ES"), (" EP ", "ES"), ("ep", "ES"), ("ESZ6", "ES"), ("esu6", "ES"),
    ("ESU26", "ES"), ("CON.F.US.EP.U26", "ES"), ("con.f.us.ep.z26", "ES"), ("F.US.EP", "ES"),
    ("MES", "MES"), ("MESU6", "MES"), ("CON.F.US.MES.U26", "MES"),
    ("NQ", "NQ"), ("ENQ", "NQ"), ("NQZ6", "NQ"), ("CON.F.US.ENQ.U26", "NQ"), ("MNQ", "MNQ"),
    ("CLE", "CL"), ("CLV6", "CL"), ("MCLE", "MCL"), ("MCLV6", "MCL"), ("NQM", "QM"), ("QMV6", "QM"),
    ("CPE", "HG"), ("6EU6", "6E"), ("EU6", "6E"), ("SR3Z5", "SR3"), ("M2KU6", "M2K"), ("GMET", "MET"),
])
def test_every_spelling_resolves_to_the_trader_root(spelling, root):
    assert resolve_instrument(spelling) == root


@pytest.mark.parametrize("spelling", ["XYZ", "ESS", "MNQ6", "CON.F.US.XX.U26", "", "E", "F.US.ZZZ"])
def test_unknown_names_are_refused(spelling):
    with pytest.raises(ValueError, match="unknown instrument"):
        resolve_instrument(spelling)


def _contract_lists():
    shipped = json.loads(resources.files("risk_manager.sim").joinpath("data/contracts.json").read_text())
    live = json.loads((FIXTURES / "contracts_available.json").read_text())
    return [("simulator", shipped), ("captured Contract/available", live.get("contracts", live)
                                       if isinstance(live, dict) else live)]


@pytest.mark.parametrize("source,contracts", _contract_lists())
def test_the_table_covers_every_listed_contract_in_every_spelling(source, contracts):
    """The shipped table agrees with the real Contract API list on every product, both ways."""
    assert len(contracts) == 51
    for c in contracts:
        px = c["symbolId"].rsplit(".", 1)[-1]
        root = resolve_instrument(c["name"])
        assert PROJECTX_ROOTS[root] == px, (source, c)
        for spelling in (px, c["id"], c["symbolId"], c["name"].lower()):
            assert resolve_instrument(spelling) == root, (source, spelling)
    assert KNOWN.trader_root_of_projectx("EP") == "ES"


def test_the_config_keeps_one_trader_root_per_instrument():
    cfg = RiskConfig.model_validate({"rules": {
        "symbol_blocks": {"blocked_symbols": ["EP", "CON.F.US.EP.U26", "esu6", "mes"]},
        "max_contracts_per_instrument": {"limits": {"EP": 1, "mesu6": 3, "CON.F.US.ENQ.U26": 2}},
    }})
    assert cfg.rules.symbol_blocks.blocked_symbols == ["ES", "MES"]
    limits = cfg.rules.max_contracts_per_instrument
    assert limits.limits == {"ES": 1, "MES": 3, "NQ": 2}
    assert limits.limit_for("ES") == 1 and limits.limit_for("MES") == 3


def test_two_limits_for_one_instrument_are_an_error():
    with pytest.raises(ValidationError, match="'ES' and 'EP' are the same instrument"):
        RiskConfig.model_validate({"rules": {"max_contracts_per_instrument": {"limits": {"ES": 1, "EP": 2}}}})


# -- the real CLI -----------------------------------------------------------------------------
def _validate(config_dir):
    return runner.invoke(app, ["config", "validate", "--config", str(config_dir)], env=ENV)


def test_validate_accepts_every_spelling(config_dir):
    edit_text(config_dir / "risk_config.yaml", "blocked_symbols: []",
              "blocked_symbols: [EP, CON.F.US.EP.U26, ESU6, esz6]")
    edit_text(config_dir / "risk_config.yaml", "limits: {MNQ: 2, NQ: 1, ES: 1, MES: 3}",
              "limits: {MNQU6: 2, ENQ: 1, EP: 1, mes: 3}")
    result = _validate(config_dir)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("OK:")


def test_validate_names_file_line_field_and_suggests(config_dir):
    risk = config_dir / "risk_config.yaml"
    edit_text(risk, "limits: {MNQ: 2, NQ: 1, ES: 1, MES: 3}", "limits: {MNQ: 2, NQ: 1, ES: 1, XYZ: 3}")
    edit_text(risk, "blocked_symbols: []", "blocked_symbols: [EP, ESS]")
    result = _validate(config_dir)
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    xyz_line, block_line = line_of(risk, "XYZ: 3"), line_of(risk, "blocked_symbols: [EP, ESS]")
    assert lines[0].startswith(
        f"risk_config.yaml:{xyz_line}:{column_of(risk, 'XYZ')}: "
        "rules.max_contracts_per_instrument.limits.XYZ: unknown instrument 'XYZ': ")
    assert lines[1] == (
        f"risk_config.yaml:{block_line}:{column_of(risk, 'ESS')}: "
        "rules.symbol_blocks.blocked_symbols[1]: unknown instrument 'ESS'; did you mean 'ES'?")
    assert lines[2] == f"2 problems: invalid configuration in {config_dir}"
    assert "OK" not in result.stdout


def test_validate_checks_account_overrides_too(config_dir):
    accounts = config_dir / "accounts.yaml"
    edit_text(accounts, "overrides: {}", "overrides: {symbol_blocks: {blocked_symbols: [MNQQ]}}")
    result = _validate(config_dir)
    assert result.exit_code == 1
    assert (f"accounts.yaml:{line_of(accounts, 'MNQQ')}:" in result.stderr
            and "accounts[0].overrides.symbol_blocks.blocked_symbols[0]: unknown instrument 'MNQQ'; "
                "did you mean 'MNQ'?" in result.stderr), result.stderr


def test_r09_per_instrument_sessions_take_every_spelling_too():
    cfg = RiskConfig.model_validate({"rules": {"session_block_outside": {"sessions": {
        "default": {}, "CLE": {"start": "08:00", "end": "09:00"}, "ep": {"start": "07:00"}}}}})
    sessions = cfg.rules.session_block_outside
    assert sorted(sessions.sessions) == ["CL", "ES", "default"]
    assert sessions.session_for("CL").start == "08:00" and sessions.session_for("MES").start == "08:30"
    with pytest.raises(ValidationError, match="unknown instrument 'CLL'; did you mean 'CL'"):
        RiskConfig.model_validate({"rules": {"session_block_outside": {"sessions": {"default": {}, "CLL": {}}}}})
