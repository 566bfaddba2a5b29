import math

import numpy as np
import pytest

from pipeline.clock import FixedClock
from pipeline.codec import decode_observation, encode_observation
from pipeline.observation import Observation
from pipeline.quarantine import Rejection
from pipeline.registry import StationRegistry
from pipeline.settings import ValidationSettings
from pipeline.validation import Validator
from pipeline.variables import STANDARD_VARIABLES

NOW = 1_790_000_000.0


def obs(values, **fields):
    base = dict(
        station_id="lon",
        station_name="London",
        lat=51.5,
        lon=-0.1,
        observed_at=NOW - 60,
        source="test",
        values=values,
    )
    base.update(fields)
    return Observation(**base)


def validate(observations):
    validator = Validator(STANDARD_VARIABLES, ValidationSettings(max_future_s=300), FixedClock(NOW))
    return validator.to_frame(observations, StationRegistry(), received_at=NOW)


def test_wire_round_trip_keeps_every_field():
    original = obs({"temperature_c": 9.5, "pressure_msl_hpa": 1003.25})
    decoded, rejected = decode_all([encode_observation(original)], received_at=NOW, source="bus")
    assert rejected == []
    assert decoded == [original]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"station_id": "lon", "observed_at": "2026-01-01T00:00:00Z", "val', "malformed JSON"),
        (b"not json at all", "malformed JSON"),
        (
            b'{"observed_at": "2026-01-01T00:00:00Z", "values": {}}',
            "missing required field `station_id`",
        ),
        (
            b'{"station_id": 7, "observed_at": "2026-01-01T00:00:00Z", "values": {}}',
            "Expected `str`, got `int` - at `$.station_id`",
        ),
        (
            b'{"station_id": "lon", "observed_at": "2026-01-01T00:00:00Z", '
            b'"values": {"temperature_c": "warm"}}',
            "Expected `float`, got `str`",
        ),
        (
            b'{"station_id": "lon", "observed_at": "2026-01-01T00:00:00", "values": {}}',
            "no UTC offset",
        ),
        (b'{"station_id": "lon", "observed_at": "yesterday", "values": {}}', "observed_at"),
        (
            b'{"station_id": "lon", "observed_at": "2026-01-01T00:00:00Z", '
            b'"values": {"temperature_c": 1e999}}',
            "out of range",
        ),
    ],
)
def test_decoder_rejects_with_reason_and_keeps_payload(payload, reason):
    decoded, rejected = decode_all([payload], received_at=NOW, source="bus")
    assert decoded == []
    assert len(rejected) == 1
    assert reason in rejected[0].reason
    assert rejected[0].payload == payload.decode()


def test_sound_observation_becomes_a_frame_row():
    frame, rejected = validate([obs({"temperature_c": 9.5, "humidity_pct": 80.0})])
    assert rejected == []
    assert len(frame) == 1
    assert frame.values[0, 0] == 9.5 and frame.values[0, 1] == 80.0
    assert np.isnan(frame.values[0, 2:]).all()


@pytest.mark.parametrize(
    ("observation", "reason"),
    [
        (obs({"temperature_c": 1.0}, station_id=""), "missing station_id"),
        (obs({"temperature_c": 1.0}, observed_at=NOW + 3600), "3600 s in the future"),
        (obs({"temperature_c": 1.0}, observed_at=math.nan), "impossible observed_at"),
        (obs({}), "no values"),
    ],
)
def test_message_level_problems_reject_the_whole_message(observation, reason):
    frame, rejected = validate([observation])
    assert len(frame) == 0
    assert [r.variable for r in rejected] == [None]
    assert reason in rejected[0].reason


@pytest.mark.parametrize(
    ("values", "variable", "reason"),
    [
        ({"temperature_c": math.nan}, "temperature_c", "not a finite number"),
        ({"temperature_c": math.inf}, "temperature_c", "not a finite number"),
        ({"temperature_c": 120.0}, "temperature_c", "outside the plausible range -95..65"),
        ({"humidity_pct": -3.0}, "humidity_pct", "outside the plausible range 0..100"),
        ({"lux": 300.0}, "lux", "unknown variable 'lux'"),
    ],
)
def test_single_bad_reading_is_rejected_and_the_rest_kept(values, variable, reason):
    frame, rejected = validate([obs({"pressure_msl_hpa": 1001.0, **values})])
    assert len(frame) == 1
    assert frame.values[0, 3] == 1001.0
    assert np.isnan(frame.values[0, 0]) and np.isnan(frame.values[0, 1])
    assert [(r.variable, r.station_id) for r in rejected] == [(variable, "lon")]
    assert reason in rejected[0].reason


def test_observation_with_only_bad_readings_leaves_no_row_but_every_reading_is_kept():
    frame, rejected = validate([obs({"temperature_c": 200.0, "humidity_pct": 150.0})])
    assert len(frame) == 0
    assert sorted(r.variable for r in rejected) == ["humidity_pct", "temperature_c"]


def test_humidity_a_little_over_100_is_saturated_air_not_a_bad_reading():
    """Capacitive sensors read 100.5 % in fog (a real BSRN record: 37 % of a June's minutes
    at Payerne); they were all quarantined. Up to 104 % is 100 %, past it is still bad."""
    frame, rejections = validate(
        [
            obs({"humidity_pct": 100.5, "temperature_c": 9.3}),
            obs({"humidity_pct": 104.5, "temperature_c": 9.3}, observed_at=NOW - 30),
        ]
    )
    column = [v.name for v in STANDARD_VARIABLES].index("humidity_pct")
    assert frame.values[0, column] == 100.0
    assert math.isnan(frame.values[1, column])
    (rejected,) = rejections
    assert rejected.variable == "humidity_pct" and "104.5" in rejected.reason


def decode_all(payloads, *, received_at, source):
    """Each payload decoded on its own: (observations, rejections)."""
    results = [decode_observation(p, received_at=received_at, source=source) for p in payloads]
    return (
        [r for r in results if not isinstance(r, Rejection)],
        [r for r in results if isinstance(r, Rejection)],
    )
