"""Messages nobody here wrote: every one gives an observation or a counted rejection, and
none stops the analysis of the ones after it."""

import math

import pytest

from pipeline.batch_processing import Analytics
from pipeline.bus import Delivery, MemoryBus
from pipeline.clock import FixedClock, ObservedClock
from pipeline.codec import decode_observation, observation_as_text
from pipeline.observation import Observation
from pipeline.quarantine import MAX_PAYLOAD_CHARS, Rejection
from pipeline.registry import StationRegistry
from pipeline.runtime import Pipeline
from pipeline.settings import (
    BusSettings,
    DetectorSettings,
    PipelineSettings,
    RuleSettings,
    ValidationSettings,
)
from pipeline.store import Store
from pipeline.text import printable
from pipeline.validation import Validator
from pipeline.variables import STANDARD_VARIABLES
from pipeline.wire_columns import ColumnDecoder
from tests.test_store import stored_rows

NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
NAMES = [v.name for v in STANDARD_VARIABLES]
REPLAYED = 1_577_836_800.0  # 2020-01-01T00:00:00Z


def message(observed_at: str = '"2025-12-31T23:59:00Z"', station: str = '"lon"') -> bytes:
    return (
        f'{{"station_id": {station}, "observed_at": {observed_at}, '
        '"values": {"temperature_c": 9.5}}'
    ).encode()


def decode(payload: bytes) -> Observation | Rejection:
    return decode_observation(payload, received_at=NOW, source="bus")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (message("1767225600000"), "looks like milli- or microseconds"),
        (message("1767225600000000"), "looks like milli- or microseconds"),
        (message("1e300"), "after year 9999"),
        (message("-1e300"), "before 1900"),
        (message('"9999-12-31T23:59:59+00:00"'), None),  # representable: validation decides
        (message('"0001-01-01T00:00:00+14:00"'), "impossible observed_at"),
        (message('"0001-01-01T00:00:00+01:00"'), "00:00:00+01:00 (before 1900 in UTC)"),
        (message('"9999-12-31T23:00:00-05:00"'), "23:00:00-05:00 (after year 9999 in UTC)"),
        (message('"2026-01-01T00:00:00"'), "no UTC offset"),
        (b'{"x":' * 3000 + b"1" + b"}" * 3000, "nested too deeply"),
        (b'{"station_id": "a", "observed_at": 1, "values": {"t": ' + b"[" * 5000, "invalid"),
        (b"\xff\xfe\x00garbage", "malformed JSON"),
        (message(station="1"), "Expected `str`"),
    ],
    ids=lambda value: value[:40] if isinstance(value, bytes) else None,
)
def test_any_message_decodes_to_an_observation_or_a_rejection(payload, reason):
    decoded = decode(payload)
    if reason is None:
        assert isinstance(decoded, Observation)
    else:
        assert isinstance(decoded, Rejection)
        assert reason in decoded.reason


def test_a_payload_that_is_not_bytes_is_a_rejection_too():
    decoded = decode_observation(12345, received_at=NOW, source="bus")  # type: ignore[arg-type]
    assert isinstance(decoded, Rejection)
    assert "undecodable message" in decoded.reason


def test_two_malformed_fragments_do_not_join_into_an_observation():
    first = b'{"station_id": "a", "observed_at": 1767225500, "values": {"temperature_c": 1}},'
    first += b'{"station_id": "b"'
    second = b'"observed_at": 1767225500, "values": {"temperature_c": 2}}'
    decoded = ColumnDecoder(NAMES).decode([first, second], received_at=NOW, source="bus")
    assert decoded.rejected == [0, 1] and len(decoded.columns) == 0


def test_a_huge_rejected_message_is_kept_clipped_with_its_size():
    payload = b'{"station_id": "' + b"x" * 2_000_000 + b'"'
    decoded = decode(payload)
    assert isinstance(decoded, Rejection)
    assert len(decoded.payload) < MAX_PAYLOAD_CHARS + 100
    assert "2,000,017 in all" in decoded.payload


def test_an_observation_with_any_time_can_be_quarantined_as_text():
    odd = Observation("a", "a", math.nan, math.inf, 1e300, "x", {"t": math.nan})
    assert '"observed_at":1e300' in observation_as_text(odd)


def validator(max_stations: int = 20_000) -> Validator:
    return Validator(
        STANDARD_VARIABLES, ValidationSettings(), FixedClock(NOW), max_stations=max_stations
    )


def test_station_ids_with_control_characters_or_too_long_are_rejected():
    bad = ["\x1b]0;pwned\x07", "a\r\nlon,12.0", "x" * 65, "   ", "ok\u202eevil"]
    observations = [Observation(i, i, 0, 0, NOW - 60, "t", {"temperature_c": 1.0}) for i in bad]
    frame, rejections = validator().to_frame(observations, StationRegistry(), NOW)
    assert len(frame) == 0
    assert len(rejections) == len(bad)
    assert all("\x1b" not in r.reason and "\r" not in r.reason for r in rejections)


def test_station_names_and_sources_are_kept_printable():
    name = "Evil \x1b]52;c;cHduZWQ=\x07 station\r\nfake row"
    observation = Observation("evil", name, 0, 0, NOW - 60, "src\x1b[2J", {"temperature_c": 1.0})
    registry = StationRegistry()
    frame, rejections = validator().to_frame([observation], registry, NOW)
    assert rejections == []
    kept = registry.stations[0].name
    assert kept == printable(name, 100)
    assert "\x1b" not in kept and "\r" not in kept and "\\x1b]52" in kept
    assert frame.source.tolist() == ["src\\x1b[2J"]


def test_new_stations_beyond_the_limit_are_rejected_with_a_reason():
    observations = [
        Observation(f"s{i}", "", math.nan, math.nan, NOW - 60, "t", {"temperature_c": 1.0})
        for i in range(5)
    ]
    registry = StationRegistry()
    frame, rejections = validator(max_stations=3).to_frame(observations, registry, NOW)
    assert len(frame) == 3 and len(registry) == 3
    assert [r.station_id for r in rejections] == ["s3", "s4"]
    assert "station limit reached" in rejections[0].reason


@pytest.mark.parametrize(("lat", "lon"), [(999.0, 0.0), (0.0, -500.0), (1e308, 1.0)])
def test_a_station_first_seen_at_an_impossible_place_is_rejected(lat, lon):
    """They were stored as the station's position (latitude 999, 1e308)."""
    placed = Observation("a", "", lat, lon, NOW - 60, "t", {"temperature_c": 1.0})
    sane = Observation("a", "", 51.5, -0.1, NOW - 30, "t", {"temperature_c": 1.0})
    registry = StationRegistry()
    frame, rejections = validator().to_frame([placed, sane], registry, NOW)
    assert len(frame) == 1 and registry.stations[0].latitude == 51.5
    assert len(rejections) == 1 and "is not within" in rejections[0].reason


def make_pipeline(tmp_path, clock):
    settings = PipelineSettings(
        stations=(),
        variables=STANDARD_VARIABLES,
        bus=BusSettings(),
        detectors=DetectorSettings(),
        rules=RuleSettings(),
        validation=ValidationSettings(),
    )
    store = Store(tmp_path / "db.sqlite3", [v.name for v in STANDARD_VARIABLES], retention_s=1e9)
    bus = MemoryBus(1000)
    return Pipeline(settings, clock=clock, source=None, bus=bus, store=store), store


@pytest.mark.parametrize(
    "hostile",
    [
        message("1767225600000"),
        message("1e300"),
        b'{"x":' * 3000 + b"1" + b"}" * 3000,
        b'{"station_id": "\\u001b]52;c;eA==\\u0007", "observed_at": 1767225500, "values": {}}',
    ],
    ids=["ms", "1e300", "deep", "osc52-id"],
)
def test_one_hostile_message_is_quarantined_and_the_next_ones_are_stored(tmp_path, hostile):
    clock = FixedClock(NOW)
    pipeline, store = make_pipeline(tmp_path, clock)
    good = [message(f'"2025-12-31T23:5{m}:00Z"') for m in range(3)]
    for payloads in ([hostile], good):
        decoded = ColumnDecoder(NAMES).decode(payloads, received_at=NOW, source="bus")
        pipeline.process(Delivery([], decoded.rejections, wire=decoded.columns))
    counters = pipeline.analytics.counters
    assert counters.stored == 3
    assert counters.rejected_messages == 1
    assert stored_rows(store)[2] == 1
    assert pipeline.health.snapshot() == [] or all(
        h.state != "failing" for h in pipeline.health.snapshot()
    )


def test_a_replay_quarantines_with_the_wall_time_it_received_the_message_at(tmp_path):
    """A replay's clock is the data's (here 2020); the quarantine says when the message came
    in, as the replay's reader does for lines it cannot read, so the two never disagree."""
    replayed = ObservedClock(REPLAYED)
    worker = Analytics(
        variables=STANDARD_VARIABLES,
        detectors=DetectorSettings(),
        rules=RuleSettings(),
        validation=ValidationSettings(),
        clock=replayed,
        wall=FixedClock(NOW),
        follow=replayed,
        registry=StationRegistry(),
        store=Store(tmp_path / "db.sqlite3", [v.name for v in STANDARD_VARIABLES], retention_s=1e9),
    )
    bad_id = Observation("a\x1bb", "A", None, None, REPLAYED, "replay", {"temperature_c": 1.0})
    unknown = Observation("lon", "L", None, None, REPLAYED, "replay", {"nonsense": 1.0})
    worker.process(Delivery([bad_id, unknown], []))
    worker.quarantine(Delivery([unknown], []), "processing failed")

    kept = worker.store.quarantine()
    assert len(kept) == 3
    assert {r.received_at for r in kept} == {NOW}
