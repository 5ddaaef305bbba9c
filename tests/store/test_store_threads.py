"""One Store shared by the event loop thread and a worker thread."""

from __future__ import annotations

import threading

from store_helpers import order_event

from risk_manager.store import Store


def test_concurrent_writers_serialise_safely(store: Store) -> None:
    errors: list[BaseException] = []

    def work(account_id: int) -> None:
        try:
            for i in range(100):
                store.append_event(order_event(i, account_id=account_id))
                with store.transaction():
                    store.audit(account_id, "R03", "Flatten", "x", "decided")
                    store.append_events([order_event(1000 + i, account_id=account_id)] * 2)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(a,)) for a in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    assert store.last_seq() == 900
    for account in (1, 2, 3):
        assert len(list(store.iter_events(account_id=account))) == 300
        assert len(store.audit_rows(account, limit=1000)) == 100
    assert store.integrity_check() == ["ok"]
