"""What could not be processed, and why: kept, counted, never silently dropped."""

from __future__ import annotations

import msgspec

# A quarantined payload is kept for an operator to read, not to be processed again: a hostile
# 1 MB message kept whole a thousand times over would fill the disk the readings need.
MAX_PAYLOAD_CHARS = 16_384


class Rejection(msgspec.Struct, kw_only=True):
    """A rejected message, or a single rejected reading of an otherwise sound one.

    ``payload`` is the original message text (or the observation re-encoded as JSON) so that an
    operator can see exactly what arrived, cut to :data:`MAX_PAYLOAD_CHARS` (see
    :func:`clip_payload`); ``variable`` is set when only that reading was rejected and the rest
    of the observation went on. ``readings`` is how many readings a reading rejection stands
    for: a message of a thousand unknown variables is one rejection naming them, not a thousand
    copies of the message.
    """

    received_at: float
    source: str
    reason: str
    payload: str
    station_id: str | None = None
    variable: str | None = None
    readings: int = 1


def clip_payload(payload: bytes | bytearray | memoryview | str) -> str:
    """A payload as text for the quarantine: undecodable bytes replaced (U+FFFD), and a long
    one cut, saying how long it was."""
    if isinstance(payload, bytes | bytearray | memoryview):
        size = len(payload)
        text = bytes(payload[: MAX_PAYLOAD_CHARS * 4]).decode("utf-8", "replace")
    else:
        size, text = len(payload), payload
    if len(text) > MAX_PAYLOAD_CHARS:
        return f"{text[:MAX_PAYLOAD_CHARS]}… [clipped: {size:,} in all]"
    return text
