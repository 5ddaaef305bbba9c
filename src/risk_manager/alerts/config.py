"""The `alerts:` block of accounts.yaml. Every channel is optional; none configured = no alerts.

Secrets (Discord webhook URL, Telegram bot token, SMTP password) may be written inline or, better,
named by an environment variable (`*_env`), so accounts.yaml need not hold them:

```yaml
alerts:
  events: [lock_set, lock_cleared, rule_fired, limit_warning, feed_blind, store_recovered, store_failing, config_problem]   # default: all
  min_severity: info              # info | warning | critical
  dedupe_seconds: 300             # identical alerts within this window are sent once
  discord:
    webhook_url_env: RM_DISCORD_WEBHOOK
  telegram:
    bot_token_env: RM_TELEGRAM_TOKEN
    chat_id: "-1001234567890"
  urls:                           # any service apprise speaks (ntfy, Pushover, Slack, Matrix, ...)
    - ntfy://ntfy.sh/my-secret-topic
  urls_env: RM_ALERT_URLS         # and/or: more URLs in an environment variable, space-separated
  email:
    host: smtp.example.com
    port: 587
    starttls: true
    username: alerts@example.com
    password_env: RM_SMTP_PASSWORD
    from_addr: alerts@example.com
    to: [admin@example.com]
```
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

Severity = Literal["info", "warning", "critical"]
EventName = Literal["lock_set", "lock_cleared", "rule_fired", "limit_warning", "feed_blind",
                    "store_recovered", "store_failing", "config_problem"]
ALL_EVENTS: tuple[str, ...] = ("lock_set", "lock_cleared", "rule_fired", "limit_warning", "feed_blind",
                               "store_recovered", "store_failing", "config_problem")
SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class MissingSecret(ValueError):
    """A channel's secret names an environment variable that is not set."""


def _one_of(model: BaseModel, inline: str, env: str, what: str) -> None:
    if (getattr(model, inline) is None) == (getattr(model, env) is None):
        raise ValueError(f"give exactly one of `{inline}` or `{env}` ({what})")


def _resolve(inline: SecretStr | None, env_name: str | None, env: Mapping[str, str] | None) -> str:
    if inline is not None:
        return inline.get_secret_value()
    assert env_name is not None
    value = (os.environ if env is None else env).get(env_name, "")
    if not value:
        raise MissingSecret(f"environment variable {env_name} is not set")
    return value


class Retry(_Strict):
    attempts: int = Field(4, ge=1, le=20)
    backoff_seconds: float = Field(2.0, gt=0)
    max_backoff_seconds: float = Field(60.0, gt=0)


class DiscordChannel(_Strict):
    enabled: bool = True
    webhook_url: SecretStr | None = None
    webhook_url_env: str | None = None
    username: str = "Risk Manager"

    @model_validator(mode="after")
    def _check(self) -> DiscordChannel:
        _one_of(self, "webhook_url", "webhook_url_env", "the Discord webhook")
        if self.webhook_url is not None and not self.webhook_url.get_secret_value().startswith(
            ("https://", "http://")
        ):
            raise ValueError("webhook_url must be an http(s) URL")
        return self

    def resolve_webhook(self, env: Mapping[str, str] | None = None) -> str:
        return _resolve(self.webhook_url, self.webhook_url_env, env)


class TelegramChannel(_Strict):
    enabled: bool = True
    bot_token: SecretStr | None = None
    bot_token_env: str | None = None
    chat_id: str | int
    api_base: str = "https://api.telegram.org"

    @model_validator(mode="after")
    def _check(self) -> TelegramChannel:
        _one_of(self, "bot_token", "bot_token_env", "the Telegram bot token")
        if not self.api_base.startswith(("https://", "http://")):
            raise ValueError("api_base must be an http(s) URL")
        return self

    def resolve_token(self, env: Mapping[str, str] | None = None) -> str:
        return _resolve(self.bot_token, self.bot_token_env, env)


class EmailChannel(_Strict):
    enabled: bool = True
    host: str
    port: int = Field(587, ge=1, le=65535)
    #: starttls upgrades a plain connection; ssl connects with TLS from the start (port 465).
    starttls: bool = True
    ssl: bool = False
    username: str | None = None
    password: SecretStr | None = None
    password_env: str | None = None
    from_addr: str
    to: list[str] = Field(min_length=1)
    subject_prefix: str = "[risk-manager]"
    timeout_seconds: float = Field(20, gt=0)

    @model_validator(mode="after")
    def _check(self) -> EmailChannel:
        if self.ssl and self.starttls:
            raise ValueError("use either `ssl: true` (port 465) or `starttls: true`, not both")
        if self.password is not None and self.password_env is not None:
            raise ValueError("give only one of `password` or `password_env`")
        if self.username is None and (self.password is not None or self.password_env is not None):
            raise ValueError("a password needs a `username`")
        for addr in (self.from_addr, *self.to):
            if "@" not in addr:
                raise ValueError(f"not an email address: {addr!r}")
        return self

    def resolve_password(self, env: Mapping[str, str] | None = None) -> str | None:
        if self.password is None and self.password_env is None:
            return None
        return _resolve(self.password, self.password_env, env)


class AlertsConfig(_Strict):
    enabled: bool = True
    events: list[EventName] = Field(default_factory=lambda: list(ALL_EVENTS))  # type: ignore[arg-type]
    min_severity: Severity = "info"
    dedupe_seconds: float = Field(300, ge=0)
    #: Alerts waiting per channel; when full the oldest is dropped (and counted).
    queue_size: int = Field(100, ge=1, le=10_000)
    timeout_seconds: float = Field(10, gt=0)
    retry: Retry = Field(default_factory=lambda: Retry.model_validate({}))
    discord: DiscordChannel | None = None
    telegram: TelegramChannel | None = None
    email: EmailChannel | None = None
    #: Apprise URLs (https://github.com/caronc/apprise/wiki), one channel each, beside the above.
    urls: list[SecretStr] = Field(default_factory=list)
    #: An environment variable holding more apprise URLs, separated by whitespace.
    urls_env: str | None = None

    @model_validator(mode="after")
    def _check_urls(self) -> AlertsConfig:
        for i, url in enumerate(self.urls):
            problem = apprise_url_problem(url.get_secret_value())
            if problem:  # never echo the URL: it holds the service's secret
                raise ValueError(f"urls[{i}]: {problem}")
        return self

    @property
    def any_channel(self) -> bool:
        return self.enabled and (
            any(c is not None and c.enabled for c in (self.discord, self.telegram, self.email))
            or bool(self.urls) or self.urls_env is not None
        )

    def resolve_urls(self, env: Mapping[str, str] | None = None) -> list[str]:
        """The inline URLs, then those of `urls_env` (unset or empty = none: alerts are optional)."""
        urls = [u.get_secret_value() for u in self.urls]
        if self.urls_env is not None:
            urls += (os.environ if env is None else env).get(self.urls_env, "").split()
        return urls


def apprise_url_problem(url: str) -> str | None:
    """Why apprise cannot send to `url` (None when it can), in words that do not repeat the URL."""
    scheme, sep, _ = url.partition("://")
    if not sep or not scheme:
        return "not a URL of the form service://..."
    # Only when URLs are configured: apprise is a large import (its plugins load in ~1 s).
    from risk_manager.alerts.apprise_channel import instantiate

    if instantiate(url) is None:
        return f"apprise cannot use this {scheme}:// URL (unknown service or missing parts)"
    return None


def parse_alerts_config(data: Mapping[str, Any] | None) -> AlertsConfig:
    """Validate the `alerts:` mapping of accounts.yaml (None or {} = alerts off).

    Raises pydantic.ValidationError; locations are relative to `alerts` (prefix them with it).
    """
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise TypeError(f"`alerts` must be a mapping, got {type(data).__name__}")
    return AlertsConfig.model_validate(dict(data))


__all__ = [
    "ALL_EVENTS",
    "AlertsConfig",
    "DiscordChannel",
    "EmailChannel",
    "MissingSecret",
    "Retry",
    "TelegramChannel",
    "ValidationError",
    "parse_alerts_config",
]
