"""What workers publish to the anomalies topic: one JSON object per anomaly or alert change;
and what watching consoles publish to the commands topic: one per acknowledgement or silence.

Wire format (UTF-8 JSON, keyed by station id; times are seconds since the epoch, UTC)::

    {"type": "anomaly", "anomaly": {"station_id": "lon", "variable": "pressure_msl_hpa",
     "detector": "pressure_fall", "value": 996.1, "quantity": 6.4, "severity": "warning", ...}}
    {"type": "alert", "alert": {"id": 3, "station_id": "lon", "rule": "pressure_fall",
     "state": "active", "severity": "warning", ...}}

    {"action": "acknowledge", "user": "alice", "station_id": "lon", "rule": "pressure_fall",
     "variable": "pressure_msl_hpa", "opened_at": 1767238800.0, "severity": "warning"}
    {"action": "silence", "user": "alice", "station_id": "lon", "until": 1767242400.0}
"""

from __future__ import annotations

import math

import msgspec

from pipeline.alerts import Alert, AlertCommand
from pipeline.anomaly import Anomaly


class AnomalyEvent(msgspec.Struct, tag="anomaly", tag_field="type"):
    anomaly: Anomaly


class AlertEvent(msgspec.Struct, tag="alert", tag_field="type"):
    alert: Alert


Event = AnomalyEvent | AlertEvent

_encoder = msgspec.json.Encoder()
# JSON has no NaN: msgspec writes a missing reading (a gap) as null, read back as NaN here.
_FLOATS = {"value", "score", "threshold", "statistic"}


def encode_event(event: Event) -> bytes:
    return _encoder.encode(event)


def decode_event(payload: bytes) -> Event:
    """Raises a ValueError (msgspec.DecodeError, ValidationError) for anything else."""
    document = msgspec.json.decode(payload)
    if isinstance(document, dict):
        for body in (document.get("anomaly"), document.get("alert")):
            if isinstance(body, dict):
                body.update({k: math.nan for k in _FLOATS if k in body and body[k] is None})
    return msgspec.convert(document, Event)


def encode_command(command: AlertCommand) -> bytes:
    return _encoder.encode(command)


def decode_command(payload: bytes) -> AlertCommand:
    """Raises a ValueError (msgspec.DecodeError, ValidationError) for anything else."""
    return msgspec.json.decode(payload, type=AlertCommand)
