import pytest

from config_test_helpers import line_of
from risk_manager.config.edit import _yaml, dump_yaml
from risk_manager.config.loader import ConfigError, example_text, load_config_dir, write_example_config


@pytest.mark.parametrize("name", ["accounts.yaml", "risk_config.yaml"])
def test_examples_round_trip_byte_for_byte(name):
    text = example_text(name)
    assert dump_yaml(_yaml().load(text)) == text


def test_write_example_config_with_demo_values(tmp_path):
    written = write_example_config(
        tmp_path,
        gateway={"api_url": "http://127.0.0.1:5555", "username": "sim", "api_key_env": "SIM_KEY"},
        accounts=[{"id": 1, "enabled": True}, {"id": 2}],
        daemon={"status_api": "127.0.0.1:0"},
    )
    assert sorted(p.name for p in written) == ["accounts.yaml", "risk_config.yaml"]
    loaded = load_config_dir(tmp_path)
    assert loaded.accounts.gateway.api_url == "http://127.0.0.1:5555"
    assert [a.id for a in loaded.accounts.accounts] == [1, 2]
    assert loaded.api_key({"SIM_KEY": "sim-key"}) == "sim-key"
    assert line_of(tmp_path / "accounts.yaml", "# The API key is never written here.")


def test_write_example_config_keeps_existing_files(tmp_path):
    (tmp_path / "risk_config.yaml").write_text("pnl_basis: gross\n")
    written = write_example_config(tmp_path)
    assert [p.name for p in written] == ["accounts.yaml"]
    assert (tmp_path / "risk_config.yaml").read_text() == "pnl_basis: gross\n"
    write_example_config(tmp_path, overwrite=True)
    assert (tmp_path / "risk_config.yaml").read_text() == example_text("risk_config.yaml")


def test_write_example_config_rejects_bad_values(tmp_path):
    with pytest.raises(ConfigError, match="status_api"):
        write_example_config(tmp_path / "x", daemon={"status_api": "0.0.0.0:80"})
    assert not (tmp_path / "x" / "accounts.yaml").exists()
