"""The demo's config directory: the packaged examples pointed at the simulator, with small limits.

The limits are chosen so each scripted step trips exactly one rule: MNQ moves $2 per point per
contract, so two contracts 30 points under water are -$120 (R04 at -$100, R03 only counts realized
loss), and the realized losses of the whole script cross R03's -$150 in step 4.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

from risk_manager.config.loader import write_example_config

DEMO_API_KEY_ENV = "PROJECTX_API_KEY"

#: Rules the demo walks through; every other rule is left out (= disabled), the session rule
#: included, so the demo works at night and at weekends.
DEMO_RULES: dict[str, Any] = {
    "max_contracts_per_instrument": {
        "limits": {"MNQ": 2},
        "enforcement": "reduce_to_limit",
        "unknown_symbol_action": "allow_with_limit:1",
    },
    "daily_unrealized_loss": {"loss_limit": 100, "scope": "per_position"},
    "no_stop_loss_grace": {"grace_period_seconds": 10},
    "daily_realized_loss": {"loss_limit": 150, "include_unrealized": False},
    "auth_loss_guard": {"enabled": True},
}

RISK_HEADER = """\
# risk_config.yaml written by `risk-manager demo`: small limits so every rule fires within a minute.
# Rules left out of this file are disabled (the session rule too: the demo runs at any hour).
"""


def write_demo_config(config_dir: Path, api_url: str, account_id: int, user: str = "sim") -> Path:
    """Write accounts.yaml (the commented example, pointed at the simulator) and the demo rules."""
    ws = api_url.replace("http://", "ws://", 1)
    write_example_config(
        config_dir,
        overwrite=True,
        gateway={
            "api_url": api_url,
            "user_hub_url": f"{ws}/hubs/user",
            "market_hub_url": f"{ws}/hubs/market",
            "username": user,
            "api_key_env": DEMO_API_KEY_ENV,
            "request_timeout_seconds": 5,
        },
        accounts=[{"id": account_id, "enabled": True}],
        # port 0: any free port; the daemon reports the one it got (Daemon.status_url).
        daemon={"status_api": "127.0.0.1:0", "poll_interval_seconds": 0.5},
    )
    doc = {
        "trading_day": {"reset_time": "17:00", "timezone": "America/Chicago"},
        "pnl_basis": "net",
        "rules": DEMO_RULES,
    }
    yaml = YAML()
    yaml.default_flow_style = False
    path = config_dir / "risk_config.yaml"
    with path.open("w", encoding="utf-8") as fh:
        fh.write(RISK_HEADER)
        yaml.dump(doc, fh)
    return config_dir
