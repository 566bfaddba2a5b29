"""Property-based attack on decoding, validation and quarantine: whatever arrives, each message
becomes an observation or a rejection with a reason, and nothing raises.

Hypothesis builds the messages: raw bytes; random JSON values (``st.recursive``), NaN and
Infinity literals included; wire objects whose fields have the wrong types; numbers past any
float; nesting up to 5,000 deep; repeated keys; station ids, names, sources and variable names
full of control and bidi characters (OSC 0/52, CSI, CR, U+202E); times in milli- and
microseconds, negative, year 0, year 9999 and beyond. Examples are derandomised, so CI sees the
same ones on every run.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pipeline.batch_processing import Analytics
from pipeline.bus import Delivery
from pipeline.clock import FixedClock
from pipeline.codec import decode_observation
from pipeline.observation import Observation
from pipeline.quarantine import MAX_PAYLOAD_CHARS, Rejection
from pipeline.registry import StationRegistry
from pipeline.settings import DetectorSettings, RuleSettings, ValidationSettings
from pipeline.stations import Station
from pipeline.store import Store
from pipeline.text import has_control
from pipeline.validation import Validator
from pipeline.variables import STANDARD_VARIABLES
from pipeline.wire_columns import ColumnDecoder

NAN = float("nan")
NOW = 1_767_225_600.0  # 2026-01-01T00:00:00Z
NAMES = [v.name for v in STANDARD_VARIABLES]
PAYLOAD_LIMIT = MAX_PAYLOAD_CHARS + 100  # the clipped text and its "[clipped: N in all]"

FUZZ = settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,  # derandomised: nothing to replay from a database
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# -- strategies --------------------------------------------------------------------------------

HOSTILE_FRAGMENTS = [
    "\x1b]0;pwned\x07",  # OSC 0: sets the terminal's title
    "\x1b]52;c;cHduZWQ=\x07",  # OSC 52: writes the clipboard
    "\x1b[2J\x1b[H",  # CSI: clears the screen
    "\r",
    "\r\n",
    "\x00",
    "\x7f",
    "\x85",  # NEL, a C1 control
    "\u202e",  # right-to-left override
    "\u2066",  # left-to-right isolate
    "\u200b",  # zero-width space
    "\u2028",  # line separator
    "\ufeff",
    "'; DROP TABLE observations; --",
    "lon",
]

hostile_text = st.lists(st.sampled_from(HOSTILE_FRAGMENTS) | st.text(max_size=8), max_size=6).map(
    "".join
)

huge_numbers = st.sampled_from(
    ["1e400", "-1e400", "9" * 400, "-" + "9" * 400, "1e-400", "18446744073709551616", "0e99999"]
)
nan_literals = st.sampled_from(["NaN", "-NaN", "Infinity", "-Infinity", "nan", "inf"])

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | hostile_text,
    lambda children: (
        st.lists(children, max_size=5)
        | st.dictionaries(hostile_text | st.sampled_from(NAMES), children, max_size=5)
    ),
    max_leaves=25,
)


def as_json(value: object) -> str:
    """JSON text; NaN and infinities come out as the NaN/Infinity literals JSON forbids."""
    return json.dumps(value, allow_nan=True)


OFFSETS = [UTC, timezone(timedelta(hours=14)), timezone(-timedelta(hours=12)), None]

timestamps = st.one_of(
    st.integers(min_value=-(10**20), max_value=10**20).map(str),  # ms, µs, negative, far ahead
    st.integers(min_value=1_500_000_000, max_value=1_800_000_000).map(lambda s: str(s * 1000)),
    st.integers(min_value=1_500_000_000, max_value=1_800_000_000).map(lambda s: str(s * 10**6)),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.datetimes(timezones=st.sampled_from(OFFSETS)).map(lambda d: as_json(d.isoformat())),
    st.sampled_from(
        [
            '"0000-01-01T00:00:00Z"',
            '"0001-01-01T00:00:00+14:00"',
            '"1899-12-31T23:59:59Z"',
            '"9999-12-31T23:59:59Z"',
            '"9999-12-31T23:59:59-12:00"',
            '"10000-01-01T00:00:00Z"',
            '"2026-01-01T00:00:00"',
            '"2026-02-30T00:00:00Z"',
            '"2026-01-01T24:00:00Z"',
            '"2025-12-31T23:59:00.123456789Z"',
        ]
    ),
    huge_numbers,
    nan_literals,
    json_values.map(as_json),
)

readings = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(as_json),
    st.floats(min_value=-100, max_value=1100).map(as_json),
    huge_numbers,
    nan_literals,
    json_values.map(as_json),
)

variable_names = st.sampled_from(NAMES) | hostile_text


@st.composite
def values_objects(draw: st.DrawFn) -> str:
    pairs = draw(st.lists(st.tuples(variable_names, readings), max_size=8))
    return "{" + ",".join(f"{as_json(name)}:{value}" for name, value in pairs) + "}"


field_texts = {
    "station_id": hostile_text.map(as_json) | json_values.map(as_json),
    "station_name": hostile_text.map(as_json) | json_values.map(as_json),
    "source": hostile_text.map(as_json) | json_values.map(as_json),
    "observed_at": timestamps,
    "values": values_objects() | json_values.map(as_json),
    "lat": st.floats(allow_nan=True).map(as_json) | huge_numbers | json_values.map(as_json),
    "lon": st.floats(allow_nan=True).map(as_json) | huge_numbers | json_values.map(as_json),
}


@st.composite
def wire_objects(draw: st.DrawFn) -> str:
    """A JSON object of wire fields in any order, some missing, some repeated, any type."""
    keys = draw(
        st.lists(st.sampled_from(sorted(field_texts)) | hostile_text, min_size=0, max_size=10)
    )
    parts = [
        f"{as_json(key)}:{draw(field_texts.get(key, json_values.map(as_json)))}" for key in keys
    ]
    return "{" + ",".join(parts) + "}"


near_now = st.integers(min_value=int(NOW) - 86_400, max_value=int(NOW) + 3_600)
plausible = st.floats(min_value=-200, max_value=2_000)
sound_readings = st.one_of(plausible, plausible, plausible, st.floats(allow_nan=False))
GOOD_IDS = ["lon", "nyc", "s1", "'; DROP TABLE observations; --"]
good_ids = st.sampled_from(GOOD_IDS)
known_names = st.sampled_from(NAMES)


def weighted(*choices: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """One of the strategies, each drawn about ``weight`` times in the sum of weights."""
    listed = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(listed).flatmap(lambda strategy: strategy)


@st.composite
def plausible_messages(draw: st.DrawFn) -> str:
    """A message that decodes, mostly sound, with hostile twists (ids, names, sources, unknown
    variables, readings out of range, times ahead), so that every path of validation runs."""
    station_id = draw(
        weighted((6, good_ids), (1, hostile_text), (1, st.text(min_size=60, max_size=70)))
    )
    moment = draw(
        weighted(
            (4, near_now.map(str)),
            (3, near_now.map(lambda s: as_json(datetime.fromtimestamp(s, UTC).isoformat()))),
            (1, timestamps),
        )
    )
    values = draw(
        weighted(
            (8, st.dictionaries(known_names, sound_readings, min_size=1, max_size=8)),
            (1, st.dictionaries(variable_names, sound_readings, max_size=8)),
        )
    )
    fields = {"station_id": as_json(station_id), "observed_at": moment, "values": as_json(values)}
    if draw(st.booleans()):
        fields["station_name"] = as_json(draw(hostile_text))
    if draw(st.booleans()):
        fields["source"] = as_json(draw(hostile_text))
    if draw(st.booleans()):
        fields["lat"] = as_json(draw(st.floats(-90, 90) | st.none()))
    return "{" + ",".join(f'"{key}":{value}' for key, value in fields.items()) + "}"


@st.composite
def deeply_nested(draw: st.DrawFn) -> str:
    depth = draw(st.integers(min_value=1, max_value=5_000))
    opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
    inner = opener * depth + "1" + closer * depth
    where = draw(st.sampled_from(["bare", "values", "observed_at", "station_id", "unclosed"]))
    if where == "bare":
        return inner
    if where == "unclosed":
        return '{"station_id":"a","observed_at":1767225500,"values":' + opener * depth
    return f'{{"station_id":"a","observed_at":1767225500,"values":{{}},"{where}":{inner}}}'


json_texts = st.one_of(
    wire_objects(),
    plausible_messages(),
    plausible_messages(),
    plausible_messages(),
    deeply_nested(),
    json_values.map(as_json),
)

# Whatever the text, on the wire it is bytes: UTF-8 (lone surrogates escaped by json.dumps),
# or with its tail cut off, or wrapped in invalid UTF-8.
payloads = st.one_of(
    st.binary(max_size=2_000),
    json_texts.map(str.encode),
    st.tuples(json_texts, st.integers(min_value=0, max_value=200)).map(
        lambda cut: cut[0].encode()[: cut[1]]
    ),
    json_texts.map(lambda text: b"\xff" + text.encode() + b"\xc3"),
)

# -- helpers -----------------------------------------------------------------------------------


def validator(max_stations: int = 20_000) -> Validator:
    return Validator(
        STANDARD_VARIABLES, ValidationSettings(), FixedClock(NOW), max_stations=max_stations
    )


def assert_bounded(rejections: list[Rejection]) -> None:
    for rejection in rejections:
        assert isinstance(rejection.payload, str)
        assert len(rejection.payload) <= PAYLOAD_LIMIT
        assert isinstance(rejection.reason, str) and rejection.reason


def decoded(payload: bytes) -> Observation | Rejection:
    result = decode_observation(payload, received_at=NOW, source="fuzz")
    assert isinstance(result, Observation | Rejection)
    return result


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    path: Path = tmp_path_factory.mktemp("fuzz") / "fuzz.sqlite3"
    store = Store(path, NAMES, retention_s=1e12)
    yield store
    store.close()


def analytics(store: Store | None) -> Analytics:
    return Analytics(
        variables=STANDARD_VARIABLES,
        detectors=DetectorSettings(),
        rules=RuleSettings(),
        validation=ValidationSettings(),
        clock=FixedClock(NOW),
        registry=StationRegistry(),
        store=store,
    )


# -- properties --------------------------------------------------------------------------------


@FUZZ
@given(payloads)
def test_any_bytes_decode_to_an_observation_or_a_rejection_with_a_clipped_payload(payload):
    result = decoded(payload)
    if isinstance(result, Rejection):
        assert_bounded([result])
    else:
        assert math.isfinite(result.observed_at)
        assert all(isinstance(v, float) for v in result.values.values())


@FUZZ
@given(st.lists(json_texts.map(str.encode), min_size=1, max_size=8))
def test_decoded_observations_validate_to_a_frame_or_rejections(batch):
    observations = [r for r in map(decoded, batch) if isinstance(r, Observation)]
    registry = StationRegistry()
    frame, rejections = validator().to_frame(observations, registry, NOW)
    assert len(frame) <= len(observations)
    assert frame.values.shape == (len(frame), len(NAMES))
    assert_bounded(rejections)
    for station in registry.stations:
        assert not has_control(station.name)
        assert not has_control(station.station_id)
        assert len(station.station_id) <= 64
    assert all(not has_control(s) for s in frame.source.tolist())


@FUZZ
@given(st.lists(payloads, min_size=1, max_size=6))
def test_any_batch_is_processed_or_quarantined_and_stored_without_raising(store, batch):
    """Through the whole consumer step: validation, detectors and the SQLite store."""
    results = [decoded(p) for p in batch]
    delivery = Delivery(
        [r for r in results if isinstance(r, Observation)],
        [r for r in results if isinstance(r, Rejection)],
    )
    worker = analytics(store)
    worker.process(delivery)
    assert worker.store_error is None
    worker.quarantine(delivery, "fuzz: the batch could not be processed")
    assert worker.store_error is None
    assert worker.counters.rejected_messages >= len(delivery.rejections)
    assert not any(has_control(station.name) for station in worker.registry.stations)


def frame_rows(frame, registry: StationRegistry) -> list[tuple]:
    ids = registry.ids
    return sorted(
        (ids[s], t, repr(v), source)
        for s, t, v, source in zip(
            frame.station.tolist(),
            frame.observed_at.tolist(),
            frame.values.tolist(),
            frame.source.tolist(),
            strict=True,
        )
    )


def rejection_keys(rejections: list[Rejection]) -> list[tuple]:
    return sorted(
        (r.reason, r.station_id or "", r.variable or "", r.readings, r.source) for r in rejections
    )


@st.composite
def new_station_messages(draw: st.DrawFn) -> str:
    """A few new stations, each in several messages, some with a variable nobody declared
    (they go the general way) and some without (they fit the fixed struct), each placed and
    named differently: which message registers a station must be the first one sent."""
    values = {"temperature_c": draw(plausible)}
    if draw(st.booleans()):
        values["battery_v"] = 3.3
    fields = {
        "station_id": as_json(draw(st.sampled_from(["n1", "n2", "n3"]))),
        "observed_at": str(draw(near_now)),
        "values": as_json(values),
        "station_name": as_json(draw(st.sampled_from(["first", "second", "third"]))),
        "lat": as_json(draw(st.sampled_from([10.0, 20.0, 91.0]))),
    }
    return "{" + ",".join(f'"{key}":{value}' for key, value in fields.items()) + "}"


batch_messages = (
    payloads | plausible_messages().map(str.encode) | new_station_messages().map(str.encode)
)


@FUZZ
@given(st.lists(batch_messages, min_size=1, max_size=12), st.integers(0, 3))
def test_decoding_into_columns_keeps_and_refuses_exactly_what_the_general_path_does(batch, room):
    """The fast path (messages straight into columns) against the general one (each message
    an Observation, then validated): the same rows, stations and rejections, reasons and all,
    with room for only ``room`` new stations."""
    known = [Station(station_id, station_id.upper(), NAN, NAN) for station_id in GOOD_IDS]
    general, columnar = StationRegistry(known), StationRegistry(known)  # the fast path's rows
    limit = len(known) + room
    results = [decoded(payload) for payload in batch]
    observations = [r for r in results if isinstance(r, Observation)]
    refused = [r for r in results if isinstance(r, Rejection)]
    frame, rejections = validator(limit).to_frame(observations, general, NOW)
    decoded_batch = ColumnDecoder(NAMES).decode(batch, received_at=NOW, source="fuzz")
    assert rejection_keys(decoded_batch.rejections) == rejection_keys(refused)
    assert decoded_batch.rejected == [i for i, r in enumerate(results) if isinstance(r, Rejection)]
    fast, fast_rejections = validator(limit).columns_to_frame(decoded_batch.columns, columnar, NOW)
    assert frame_rows(fast, columnar) == frame_rows(frame, general)
    assert rejection_keys(fast_rejections) == rejection_keys(rejections)
    assert list(map(repr, general.stations)) == list(map(repr, columnar.stations))


def test_a_new_station_is_placed_by_its_first_message_whichever_way_each_decodes():
    """The first message has a variable nobody declared (the general way), the second fits
    the fixed struct: the station is the first one's, and the second's reading is kept."""
    first = message_text("x", 10.0, "first", {"temperature_c": 5.0, "battery_v": 3.3})
    second = message_text("x", 91.0, "second", {"temperature_c": 6.0}, NOW - 60)
    decoded_batch = ColumnDecoder(NAMES).decode([first, second], received_at=NOW, source="fuzz")
    registry = StationRegistry()
    frame, rejections = validator().columns_to_frame(decoded_batch.columns, registry, NOW)
    assert [(s.name, s.latitude) for s in registry.stations] == [("first", 10.0)]
    assert len(frame) == 2
    assert [r.variable for r in rejections] == ["battery_v"]


def message_text(station_id, lat, name, values, observed_at=NOW - 120) -> bytes:
    return json.dumps(
        {
            "station_id": station_id,
            "observed_at": observed_at,
            "values": values,
            "lat": lat,
            "station_name": name,
        }
    ).encode()


@FUZZ
@given(json_texts.map(str.encode))
def test_quarantining_any_decoded_observation_never_raises(payload):
    result = decoded(payload)
    worker = analytics(None)
    delivery = Delivery([result], []) if isinstance(result, Observation) else Delivery([], [result])
    worker.quarantine(delivery, "fuzz")
    assert worker.counters.rejected_messages == 1


def test_a_message_of_many_unknown_variables_stays_within_the_quarantine_s_bounds():
    """2,000 unknown variables in one 40 KB message must not become 2,000 quarantined copies of
    it (32 MB, quadratic time: one re-encoding of the whole message per variable)."""
    values = {f"v{i:05d}": 1.0 for i in range(2_000)} | {"temperature_c": 1.0}
    payload = json.dumps({"station_id": "lon", "observed_at": NOW - 60, "values": values}).encode()
    _, rejections = validator().to_frame([decoded(payload)], StationRegistry(), NOW)
    assert sum(len(r.payload) for r in rejections) <= 4 * MAX_PAYLOAD_CHARS
    assert [(r.variable, r.readings) for r in rejections] == [("v00000", 2_000)]
    assert "unknown variables 'v00000', 'v00001'" in rejections[0].reason
    assert "and 1,990 more" in rejections[0].reason


def test_readings_of_unknown_variables_are_counted_one_by_one():
    """One rejection names them all; the counters still say how many readings were lost."""
    values = {"lux": 1.0, "uv": 2.0, "pm25": 3.0, "temperature_c": 1.0}
    payload = json.dumps({"station_id": "lon", "observed_at": NOW - 60, "values": values})
    worker = analytics(None)
    worker.process(Delivery([decoded(payload.encode())], []))
    assert (worker.counters.rejected_readings, worker.counters.rejected_messages) == (3, 0)
