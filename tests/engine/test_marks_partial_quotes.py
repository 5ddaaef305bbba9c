"""Marks from partial quotes (docs/rules.md "Unrealized P&L", reference quirk 10): the last print while the book still
holds it, the mid of bid/ask when lastPrice is absent, too old, or the book has moved off it."""

from __future__ import annotations

from datetime import timedelta

from .engine_helpers import MNQ, T0, engine, mtrade, quote


def test_no_last_price_at_all_marks_from_the_mid() -> None:
    e = engine()
    e.handle(quote(MNQ, bid=29500.0, ask=29500.5), T0)
    mark = e.market.mark(MNQ, T0, 10)
    assert (mark.price, mark.source, mark.stale) == (29500.25, "mid", False)


def test_a_recent_print_inside_the_book_is_the_mark() -> None:
    e = engine()
    e.handle(quote(MNQ, last=29500.0, bid=29499.75, ask=29500.0), T0)
    e.handle(quote(MNQ, bid=29500.0, ask=29500.25), T0 + timedelta(seconds=1))  # still holds 29500
    mark = e.market.mark(MNQ, T0 + timedelta(seconds=2), 10)
    assert (mark.price, mark.source) == (29500.0, "last")


def test_a_book_that_moved_off_a_recent_print_marks_from_the_mid() -> None:
    e = engine()
    e.handle(quote(MNQ, last=29500.0, bid=29499.75, ask=29500.0), T0)
    e.handle(quote(MNQ, bid=29440.0), T0 + timedelta(seconds=1))
    e.handle(quote(MNQ, ask=29440.5), T0 + timedelta(seconds=1))  # partial: merged with the bid
    mark = e.market.mark(MNQ, T0 + timedelta(seconds=2), 10)  # the print is 2 s old: fresh by age
    assert (mark.price, mark.source, mark.stale) == (29440.25, "mid", False)
    # A new print (quote or market trade) is the mark again.
    e.handle(mtrade(MNQ, 29440.5), T0 + timedelta(seconds=3))
    assert e.market.mark(MNQ, T0 + timedelta(seconds=3), 10).price == 29440.5


def test_an_old_print_gives_way_to_the_mid_and_a_crossed_book_to_the_last() -> None:
    e = engine()
    e.handle(quote(MNQ, last=29500.0, bid=29499.75, ask=29500.0), T0)
    mark = e.market.mark(MNQ, T0 + timedelta(seconds=11), 10)
    assert (mark.price, mark.source, mark.stale) == (29499.875, "mid", True)
    e.handle(quote(MNQ, bid=29510.0, ask=29490.0), T0 + timedelta(seconds=1))  # crossed: no mid
    mark = e.market.mark(MNQ, T0 + timedelta(seconds=2), 10)
    assert (mark.price, mark.source) == (29500.0, "last")
