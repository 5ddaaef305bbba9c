"""Optional notifications (Discord webhook, Telegram bot, email over SMTP) configured in the
`alerts:` block of accounts.yaml. Alerts never delay enforcement: `send()` only appends to bounded
per-channel queues that background tasks drain with retries and backoff.

API for the daemon (everything on its event loop):

    from risk_manager.alerts import AlertDispatcher, parse_alerts_config, messages

    cfg = parse_alerts_config(raw_accounts_yaml.get("alerts"))   # or AccountsConfig.alerts
    dispatcher = AlertDispatcher(cfg, clock)           # clock: risk_manager.clock.Clock
    await dispatcher.start()                           # before the first enforcement
    dispatcher.send_action(action, account_name=name)  # SetLock/ClearLock/Alert/Flatten/Close/Cancel
    dispatcher.send(messages.limit_warning(now, account_id, "R03", "Daily loss", -400, -500))
    dispatcher.send(messages.feed_blind(now, account_id, seconds=61, open_positions=2))
    await dispatcher.stop()                            # drains up to 2 s, then cancels

`send`/`send_action` return at once (False if filtered by `events`/`min_severity`, de-duplicated,
or the dispatcher is not started). Identical alerts within `dedupe_seconds` go out once; the next one
after the window says how many were suppressed. A full queue drops its oldest alert
(`dispatcher.stats[channel].dropped`). Secrets are masked in every log line (`dispatcher.scrub`).
A channel whose `*_env` secret is unset is disabled with an error log; the daemon keeps running.
"""

from typing import Any

# Only the config models load eagerly: risk_manager.config.models can import them without pulling
# in aiohttp or the engine (and without an import cycle).
from risk_manager.alerts.config import AlertsConfig, parse_alerts_config

_LAZY = {
    "AlertDispatcher": "risk_manager.alerts.dispatcher",
    "ChannelStats": "risk_manager.alerts.dispatcher",
    "Notification": "risk_manager.alerts.messages",
}


def __getattr__(name: str) -> Any:
    import importlib

    if name == "messages":
        return importlib.import_module("risk_manager.alerts.messages")
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'risk_manager.alerts' has no attribute {name!r}")


__all__ = [
    "AlertDispatcher",
    "AlertsConfig",
    "ChannelStats",
    "Notification",
    "messages",
    "parse_alerts_config",
]
