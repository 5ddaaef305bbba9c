"""Trading-day and session lookups for the engine, cached so the hot path is a comparison.

Wraps risk_manager.schedule (pure functions); results are valid until the next boundary, so a
session check costs one datetime comparison until the session opens or closes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from risk_manager.config.models import Session, TradingDay
from risk_manager.schedule.calendar import MarketCalendar
from risk_manager.schedule.sessions import current_session_end, next_session_start
from risk_manager.schedule.trading_day import trading_day_bounds, trading_day_of


@dataclass(frozen=True, slots=True)
class SessionStatus:
    open: bool
    #: open: when the current window ends; closed: when the next one starts.
    boundary: datetime
    valid_from: datetime


class Timeline:
    def __init__(self, trading_day: TradingDay, calendar: MarketCalendar | None) -> None:
        self.trading_day = trading_day
        self.calendar = calendar
        self._sessions: dict[tuple[int, bool], SessionStatus] = {}
        self._sessions_keep: list[Session] = []  # keep ids alive while cached
        self._day_bounds: tuple[datetime, datetime] | None = None

    # -- trading day ---------------------------------------------------------------------
    def day_bounds(self, now: datetime) -> tuple[datetime, datetime]:
        b = self._day_bounds
        if b is None or not (b[0] <= now < b[1]):
            b = self._day_bounds = trading_day_bounds(now, self.trading_day)
        return b

    def day_of(self, now: datetime) -> date:
        return trading_day_of(now, self.trading_day)

    def next_reset(self, now: datetime) -> datetime:
        return self.day_bounds(now)[1]

    # -- sessions ------------------------------------------------------------------------
    def session_status(self, now: datetime, session: Session, respect_holidays: bool) -> SessionStatus:
        key = (id(session), respect_holidays)
        st = self._sessions.get(key)
        if st is not None and st.valid_from <= now < st.boundary:
            return st
        end = current_session_end(now, session, self.calendar, respect_holidays)
        if end is not None:
            st = SessionStatus(True, end, now)
        else:
            st = SessionStatus(False, next_session_start(now, session, self.calendar, respect_holidays), now)
        if key not in self._sessions:
            self._sessions_keep.append(session)
        self._sessions[key] = st
        return st

    def clear(self) -> None:
        self._sessions.clear()
        self._sessions_keep.clear()
        self._day_bounds = None
