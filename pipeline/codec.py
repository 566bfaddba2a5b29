"""JSON on the wire: one observation per message.

Wire format (UTF-8 JSON object)::

    {"station_id": "lon", "station_name": "London", "lat": 51.5074, "lon": -0.1278,
     "observed_at": "2026-11-23T11:00:00Z", "source": "simulator",
     "values": {"temperature_c": 9.4, "pressure_msl_hpa": 1003.2, ...}}

``observed_at`` is ISO 8601 with an explicit offset (or seconds since the epoch as a number);
``lat``/``lon`` are optional (null or absent: the position is unknown, or configured under
``[[stations]]``). msgspec decodes and type-checks in one pass, several times faster than
``json`` plus hand checks; its messages name the offending field, which goes into the
quarantine reason as is. Value checks that need configuration (plausible ranges, future
timestamps) happen later, in :mod:`pipeline.validation`, for messages from every bus alike.

Every function here is total: any bytes give an observation or a :class:`Rejection` saying
why, never an exception, because one message that raised would stop the worker reading them.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime

import msgspec

from pipeline.observation import Observation
from pipeline.quarantine import Rejection, clip_payload
from pipeline.times import EARLIEST, LATEST, implausible_time

NAN = float("nan")


class WireObservation(msgspec.Struct, forbid_unknown_fields=False, omit_defaults=True):
    station_id: str
    observed_at: datetime | float
    values: dict[str, float]
    station_name: str = ""
    lat: float | None = None
    lon: float | None = None
    source: str = ""


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(WireObservation)


def _position(degrees: float) -> float | None:
    return degrees if math.isfinite(degrees) else None


def encode_observation(observation: Observation) -> bytes:
    """The wire JSON of an observation; an unknown position is left out (never ``NaN``)."""
    moment: datetime | float = observation.observed_at
    if implausible_time(observation.observed_at) is None:
        moment = datetime.fromtimestamp(observation.observed_at, UTC)
    wire = WireObservation(
        station_id=observation.station_id,
        station_name=observation.station_name,
        lat=_position(observation.lat),
        lon=_position(observation.lon),
        observed_at=moment,
        source=observation.source,
        values=observation.values,
    )
    return _encoder.encode(wire)


def observation_as_text(observation: Observation) -> str:
    """The observation as its wire JSON, for quarantine records (whatever it holds)."""
    try:
        return clip_payload(encode_observation(observation))
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError):
        return clip_payload(repr(observation))


def _epoch(moment: datetime | float) -> float | str:
    """Seconds since the epoch, or why the time cannot be an observation's."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None:
            return "observed_at has no UTC offset (write 2026-01-01T00:00:00Z)"
        try:
            seconds = moment.timestamp()
        except (OverflowError, OSError, ValueError) as exc:
            return f"impossible observed_at {moment.isoformat()}: {exc}"
        if not EARLIEST <= seconds <= LATEST:  # written as a date: not an epoch in ms
            edge = "before 1900" if seconds < EARLIEST else "after year 9999"
            return f"impossible observed_at {moment.isoformat()} ({edge} in UTC)"
        return seconds  # a calendar date in range: finite, and not milli- or microseconds
    seconds = float(moment)
    return implausible_time(seconds) or seconds


def decode_observation(
    payload: bytes | str, *, received_at: float, source: str
) -> Observation | Rejection:
    """One wire message as an observation, or as a rejection saying what is wrong with it."""
    try:
        wire = _decoder.decode(payload)
    except msgspec.ValidationError as exc:
        return _rejected(payload, f"invalid message: {exc}", received_at, source)
    except msgspec.DecodeError as exc:
        return _rejected(payload, f"malformed JSON: {exc}", received_at, source)
    except RecursionError:
        return _rejected(payload, "malformed JSON: nested too deeply", received_at, source)
    except Exception as exc:  # not bytes at all, or a decoder surprise: still one rejection
        reason = f"undecodable message: {type(exc).__name__}: {exc}"
        return _rejected(payload, reason, received_at, source)
    return _from_wire(wire, payload, received_at, source)


def _from_wire(
    wire: WireObservation, payload: bytes | str, received_at: float, source: str
) -> Observation | Rejection:
    observed_at = _epoch(wire.observed_at)
    if isinstance(observed_at, str):
        return _rejected(payload, observed_at, received_at, source, wire.station_id)
    return Observation(
        station_id=wire.station_id,
        station_name=wire.station_name or wire.station_id,
        lat=NAN if wire.lat is None else wire.lat,
        lon=NAN if wire.lon is None else wire.lon,
        observed_at=observed_at,
        source=wire.source or source,
        values=wire.values,
    )


def _rejected(
    payload: object, reason: str, received_at: float, source: str, station_id: str | None = None
) -> Rejection:
    if isinstance(payload, bytes | bytearray | memoryview | str):
        text = clip_payload(payload)
    else:
        text = repr(payload)[:200]
    return Rejection(
        received_at=received_at,
        source=source,
        reason=reason,
        payload=text,
        station_id=station_id or None,
    )
