"""What could not be processed, and why: kept, counted, never silently dropped."""

from __future__ import annotations

import msgspec


class Rejection(msgspec.Struct, kw_only=True):
    """A rejected message, or a single rejected reading of an otherwise sound one.

    ``payload`` is the original message text (or the observation re-encoded as JSON) so that an
    operator can see exactly what arrived; ``variable`` is set when only that reading was
    rejected and the rest of the observation went on.
    """

    received_at: float
    source: str
    reason: str
    payload: str
    station_id: str | None = None
    variable: str | None = None
