"""The daemon's Prometheus series (`GET /metrics`), built on `prometheus_client`.

Each daemon owns one `CollectorRegistry` (never the library's global `REGISTRY`), so two daemons
in one process (tests, the demo) never share or collide. Two kinds of series:

- *observed*: histograms and labelled counters fed as things happen (the executor's hooks and the
  enforcement outcome sink);
- *read at scrape time*: `_DaemonCollector` turns the counters the daemon, pipeline, executor,
  REST client and alert dispatcher already keep into counter families, and reads the gauges (hub
  states, blind time, REST budget, locks, store health) from their live objects, so nothing is
  counted twice. Every name starts with `risk_manager_` (docs/status-api.md lists them).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from risk_manager.daemon.metrics_firm import firm_families

if TYPE_CHECKING:
    from risk_manager.engine.actions import Action

log = logging.getLogger(__name__)

__all__ = ["CONTENT_TYPE", "DaemonMetrics", "generate_latest", "observe_safely", "status_api_registry"]

PREFIX = "risk_manager_"
CONTENT_TYPE = CONTENT_TYPE_LATEST

#: Seconds. The lock path's reaction is ~1 ms on loopback and a few ms to a real gateway;
#: the upper buckets catch a stalled loop or a slow broker.
REACTION_BUCKETS = (0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
DECISION_BUCKETS = (0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25)
CALL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HUB_STATES = ("idle", "connecting", "connected", "backoff", "failed", "stopped")


class DaemonMetrics:
    """One daemon's registry and its observed series. Also the executor's `observer`."""

    def __init__(self, daemon: Any) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.reaction = Histogram(
            f"{PREFIX}reaction_seconds",
            "Event received from the hub to the first broker request sent for the action it caused.",
            ["action"], buckets=REACTION_BUCKETS, registry=r)
        self.decision = Histogram(
            f"{PREFIX}decision_seconds",
            "Event received to the engine's actions handed to the executor (journal + engine).",
            buckets=DECISION_BUCKETS, registry=r)
        self.call = Histogram(
            f"{PREFIX}enforcement_call_seconds",
            "One broker call of an enforcement (request sent to answer or failure).",
            ["call", "result"], buckets=CALL_BUCKETS, registry=r)
        self.enforcements = Counter(
            f"{PREFIX}enforcements", "Finished enforcements by account, rule, action and outcome.",
            ["account", "rule", "action", "outcome"], registry=r)
        self.locks_set = Counter(
            f"{PREFIX}locks_set", "Locks set (made durable) by account and rule.",
            ["account", "rule"], registry=r)
        r.register(_DaemonCollector(daemon))

    # -- rendering ---------------------------------------------------------------------------
    def render(self) -> bytes:
        return generate_latest(self.registry)

    # -- hooks (never raise: metrics must not stop enforcement) ------------------------------
    def decided(self, received_ns: int, decided_ns: int) -> None:
        if received_ns and decided_ns >= received_ns:
            self.decision.observe((decided_ns - received_ns) / 1e9)

    def first_sent(self, action: Action, received_ns: int, sent_ns: int) -> None:
        if received_ns and sent_ns >= received_ns:
            self.reaction.labels(_action_name(action)).observe((sent_ns - received_ns) / 1e9)

    def call_done(self, call: str, sent_ns: int, end_ns: int, ok: bool) -> None:
        self.call.labels(call, "ok" if ok else "error").observe(max(0, end_ns - sent_ns) / 1e9)

    def locks(self, actions: Sequence[Action]) -> None:
        from risk_manager.engine.actions import SetLock

        for action in actions:
            if isinstance(action, SetLock):
                self.locks_set.labels(str(action.account_id), action.rule).inc()

    def outcome(self, record: dict[str, Any]) -> None:
        self.enforcements.labels(str(record.get("account_id")), str(record.get("rule")),
                                 str(record.get("action")), str(record.get("outcome"))).inc()


def _action_name(action: Any) -> str:
    return type(action).__name__


class _DaemonCollector(Collector):
    """Reads the daemon's own counters and live state at every scrape."""

    def __init__(self, daemon: Any) -> None:
        self._d = daemon

    def collect(self) -> Iterator[Metric]:
        d = self._d
        yield from self._counters(d)
        yield from self._connections(d)
        yield from self._locks(d)
        yield from self._store(d)
        yield from self._alerts(d)
        yield from firm_families(d)  # R14–R16, groups, reduce-only (daemon/metrics_firm.py)

    @staticmethod
    def _counter(name: str, doc: str, value: float) -> CounterMetricFamily:
        return CounterMetricFamily(f"{PREFIX}{name}", doc, value=value)

    def _counters(self, d: Any) -> Iterator[Metric]:
        counters: dict[str, int] = dict(d.counters)
        pipeline = getattr(d, "pipeline", None)
        if pipeline is not None:
            counters.update(pipeline.counters)
        for name, value in sorted(counters.items()):
            yield self._counter(name, f"Daemon counter {name}.", value)
        executor = getattr(d, "executor", None)
        if executor is not None:
            for name, value in sorted(executor.stats.items()):
                yield self._counter(f"enforcement_{name}", f"Executor counter {name}.", value)
        rest = getattr(d, "rest", None)
        if rest is not None:
            fam = CounterMetricFamily(f"{PREFIX}rest", "REST client counters by kind.", labels=["kind"])
            for name, value in sorted(rest.stats.items()):
                fam.add_metric([name], value)
            yield fam
        hubs = [(n, h) for n, h in (("user", d.user_hub), ("market", d.market_hub)) if h is not None]
        malformed = CounterMetricFamily(f"{PREFIX}hub_malformed", "Malformed hub frames dropped.",
                                        labels=["hub"])
        for name, hub in hubs:
            malformed.add_metric([name], hub.stats.malformed)
        yield malformed

    def _connections(self, d: Any) -> Iterator[Metric]:
        states = GaugeMetricFamily(f"{PREFIX}hub_state", "1 for the hub's current state, else 0.",
                                   labels=["hub", "state"])
        for name, hub in (("user", d.user_hub), ("market", d.market_hub)):
            current = hub.state.value if hub is not None else "idle"
            for state in HUB_STATES:
                states.add_metric([name, state], 1.0 if state == current else 0.0)
        yield states
        down = getattr(d, "_user_down_since", None)
        yield GaugeMetricFamily(f"{PREFIX}blind_seconds",
                                "Seconds the user hub has been down (0 while connected).",
                                value=0.0 if down is None else max(0.0, time.monotonic() - down))
        pipeline = getattr(d, "pipeline", None)
        last = pipeline.last_event_mono if pipeline is not None else None
        if last is not None:
            yield GaugeMetricFamily(f"{PREFIX}last_event_age_seconds", "Seconds since the last hub event.",
                                    value=max(0.0, time.monotonic() - last))
        rest = getattr(d, "rest", None)
        budget = getattr(rest, "budget", None)
        if budget is not None:
            used = budget.used
            yield GaugeMetricFamily(f"{PREFIX}rest_budget_limit", "REST calls allowed per window.",
                                    value=budget.limit)
            yield GaugeMetricFamily(f"{PREFIX}rest_budget_remaining",
                                    "REST calls left in the current window (all calls; priority may use all).",
                                    value=max(0, budget.limit - used))
            yield GaugeMetricFamily(f"{PREFIX}rest_budget_ordinary_remaining",
                                    "REST calls left for non-priority reads (the reserve kept for the lock path).",
                                    value=max(0, budget.ordinary_limit - used))

    def _locks(self, d: Any) -> Iterator[Metric]:
        engine = getattr(d, "engine", None)
        if engine is None:
            return
        active = GaugeMetricFamily(f"{PREFIX}lock_active", "1 per active lock, by account and rule.",
                                   labels=["account", "rule"])
        for lock in engine.locks.all():
            if lock.account_id in d.accounts:
                active.add_metric([str(lock.account_id), lock.rule], 1.0)
        yield active
        locked = sum(1 for aid in d.accounts if engine.locks.is_locked(aid))
        yield GaugeMetricFamily(f"{PREFIX}locked_accounts", "Guarded accounts that are locked out.",
                                value=locked)

    def _store(self, d: Any) -> Iterator[Metric]:
        """From the /status `store` block (the fail-safe ledger's view), so both always agree."""
        store = d.store_status()
        if store.get("state") in ("ok", "failing"):
            yield GaugeMetricFamily(f"{PREFIX}store_ok", "1 while the store's writes land, 0 while failing.",
                                    value=1.0 if store["state"] == "ok" else 0.0)
        yield self._counter("store_write_errors", "Store writes that failed.", store.get("write_errors", 0))
        yield GaugeMetricFamily(f"{PREFIX}store_undurable_locks",
                                "Lock changes in force in memory but not saved yet.",
                                value=len(store.get("undurable_locks", [])))

    def _alerts(self, d: Any) -> Iterator[Metric]:
        alerts = getattr(d, "alerts", None)
        if alerts is None:
            return
        per_channel = sorted(alerts.stats().items())
        for key in ("sent", "failed", "retries", "dropped"):
            fam = CounterMetricFamily(f"{PREFIX}alerts_{key}", f"Alerts {key} per channel.", labels=["channel"])
            for channel, stats in per_channel:
                fam.add_metric([channel], stats[key])
            yield fam


class _StatusApiCollector(Collector):
    """The status API's own series (its clients and logins), read at scrape time."""

    def __init__(self, api: Any) -> None:
        self._api = api

    def collect(self) -> Iterator[Metric]:
        api = self._api
        yield GaugeMetricFamily(f"{PREFIX}status_api_event_clients", "WebSocket /events clients connected.",
                                value=api.client_count)
        yield CounterMetricFamily(f"{PREFIX}status_api_dropped_clients",
                                  "/events clients dropped for falling behind.", value=api.dropped_clients)
        yield CounterMetricFamily(f"{PREFIX}status_api_failed_logins", "Failed admin logins.",
                                  value=api.failed_logins)


def status_api_registry(api: Any) -> CollectorRegistry:
    """A registry of one status API's series (rendered after the provider's)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_StatusApiCollector(api))
    return registry


def observe_safely(fn: Any, *args: Any) -> None:
    """Call a metrics hook; a failure is logged once per call site, never raised."""
    try:
        fn(*args)
    except Exception:
        log.exception("metrics hook failed")
