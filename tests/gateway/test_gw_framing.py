"""Property: however a stream of records is cut into frames, the decoder yields the same records."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from risk_manager.gateway import signalr_protocol as sp

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
records = st.one_of(
    st.builds(lambda t, a: sp.invocation(t, a), st.sampled_from(["GatewayQuote", "GatewayUserOrder"]), st.lists(json_values, max_size=3)),
    st.builds(lambda i, r: sp.completion(str(i), result=r, has_result=True), st.integers(0, 10**6), json_values),
    st.just(sp.PING),
    st.builds(sp.close, st.one_of(st.none(), st.text(max_size=10)), st.one_of(st.none(), st.booleans())),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(records, min_size=1, max_size=12), st.data())
def test_any_split_decodes_to_the_same_records(messages, data):
    stream = sp.encode_many(messages)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    frames = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)])]
    decoder = sp.RecordDecoder()
    out = []
    for frame in frames:
        out.extend(decoder.feed_json(frame))
    assert decoder.pending == ""
    assert out == [sp.parse(sp.encode(m)[:-1]) for m in messages]


@settings(max_examples=50, deadline=None)
@given(st.lists(records, min_size=1, max_size=8))
def test_one_character_frames(messages):
    stream = sp.encode_many(messages)
    decoder = sp.RecordDecoder()
    out = [r for ch in stream for r in decoder.feed_json(ch)]
    assert len(out) == len(messages)


def test_malformed_record_is_reported_not_fatal():
    decoder = sp.RecordDecoder()
    raws = decoder.feed('{"type":6}\x1enot json\x1e[1,2]\x1e{"type":6}\x1e')
    parsed, errors = [], 0
    for raw in raws:
        try:
            parsed.append(sp.parse(raw))
        except sp.ProtocolError:
            errors += 1
    assert errors == 2 and parsed == [sp.PING, sp.PING]


def test_oversized_record_without_separator_is_refused():
    decoder = sp.RecordDecoder(max_record=100)
    with pytest.raises(sp.ProtocolError):
        decoder.feed("x" * 101)
    assert decoder.feed('{"type":6}\x1e') == ['{"type":6}']


def test_nan_and_infinity_are_rejected_not_decoded():
    import pytest

    from risk_manager.gateway.signalr_protocol import ProtocolError, parse

    for bad in ('{"type":1,"target":"GatewayQuote","arguments":["C",{"lastPrice":NaN}]}',
                '{"type":1,"arguments":[Infinity]}', '{"x":-Infinity}'):
        with pytest.raises(ProtocolError, match="non-JSON number"):
            parse(bad)
    assert parse('{"type":6}') == {"type": 6}
