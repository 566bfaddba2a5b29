"""A replay file of hostile messages among sound ones, and what the pipeline must make of it.

:func:`write_corpus` writes JSONL (one message a line, in the wire format of
:mod:`pipeline.codec`) from a seeded :class:`random.Random`, so the same arguments always give
the same bytes, and returns the exact outcome expected (:class:`CorpusCounts`): how many
observations must be stored (each once), how many exact re-sends must be counted as duplicates,
how many messages must be rejected whole (by kind) and how many single readings.

Sound observations: 20 stations reading every 60 s from 2025-06-01 (in the past, since a replay
is checked against the clock), values on slow random walks inside the plausible ranges, a few
lines with a trailing CR or leading blanks (still sound JSON). Some carry one bad reading (out
of range, or a variable nobody declared): that reading is rejected, the rest stored. Station
ids made of SQL (``'; DROP TABLE observations; --``) are sound too: the validation rules reject
ids that are blank, longer than 64 characters or hold control characters, and SQL text is none
of these; the store binds it as a parameter, so it must be stored like any other id. Station
names full of terminal controls are sound as well (they are kept escaped).

Each hostile line is rejected whole, either by the codec (``decode``: what a Kafka worker
dead-letters) or by validation (``validate``: quarantined, not dead-lettered, since the bus
only dead-letters what it cannot decode). The exception is ``unknown_only``: a message whose
only reading is of an unknown variable loses that reading (one rejected reading, nothing
stored, no message rejection), as the validation policy says. No line is blank (a replay skips
blank lines; they are no message) and no line holds a raw ``\\n`` (it would be two messages).
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

START = datetime(2025, 6, 1, tzinfo=UTC).timestamp()
INTERVAL = 60.0
STATIONS = 20
BIG_LINE = 1_000_500  # bytes: a little over librdkafka's default message.max.bytes (1,000,000)

Stage = Literal["decode", "validate", "reading"]

SQL_IDS = ("'; DROP TABLE observations; --", "Robert'); DROP TABLE stations;--")
HOSTILE_NAMES = (
    "Evil \x1b]0;pwned\x07 station",  # OSC 0: the terminal's title
    "Clip \x1b]52;c;cHduZWQ=\x07",  # OSC 52: the clipboard
    "Wipe \x1b[2J\x1b[H\r\nfake row",  # CSI and CR/LF
    "Bidi \u202eevil\u202c name",  # right-to-left override
    "Zero\u200bwidth\ufeff and \x85 NEL",
)
CONTROL_IDS = (
    "\x1b]0;pwned\x07",
    "st01\x1b]52;c;cHduZWQ=\x07",
    "\x1b[2J\x1b[Hst01",
    "st01\r",
    "st01\r\nst02",
    "st\u202e10",
    "st\u200b01",
    "st01\x85",
    "\u2066st01\u2069",
    "st01\x7f",
)
RAW_CONTROL_BYTES = (b"\x1b]0;x\x07", b"\x1b[2J", b"\r", b"\x00", b"\x07", b"\t", b"\x1f")
INVALID_UTF8 = (
    b"\xff",  # never in UTF-8
    b"\xfe\xff",  # a UTF-16 byte-order mark
    b"\xc0\xaf",  # an overlong "/"
    b"\xed\xa0\x80",  # a UTF-16 surrogate
    b"\xf8\x88\x80\x80",  # a 5-byte form
    b"\xe2\x82",  # a sequence cut short
)


@dataclass(slots=True)
class CorpusCounts:
    """What replaying the corpus must give, exactly."""

    lines: int = 0
    valid_unique: int = 0  # observations to store, each once
    duplicates: int = 0  # exact re-sends of sound lines: counted, not stored again
    rejected_readings: int = 0  # single readings rejected (the rest of the message stored)
    rejected: dict[str, int] = field(default_factory=dict)  # whole messages, by kind
    stages: dict[str, Stage] = field(default_factory=dict)  # which step rejects each kind
    stations: set[str] = field(default_factory=set)  # ids of the stored observations
    big_lines: int = 0  # lines of about 1 MB

    @property
    def rejected_messages(self) -> int:
        return sum(self.rejected.values())

    @property
    def undecodable(self) -> int:
        """Messages the codec refuses: what a Kafka worker sends to the dead-letter topic."""
        return sum(n for kind, n in self.rejected.items() if self.stages[kind] == "decode")

    @property
    def quarantined(self) -> int:
        """Rows the quarantine table must hold: one per rejected message or reading."""
        return self.rejected_messages + self.rejected_readings


class _Walk:
    """One station's readings: slow random walks, well inside the plausible ranges and the
    rules' thresholds (no pressure fall, gust or rapid change to alert on)."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng
        self.state = {
            "temperature_c": rng.uniform(5, 25),
            "humidity_pct": rng.uniform(40, 90),
            "pressure_msl_hpa": rng.uniform(1005, 1020),
            "wind_speed_ms": rng.uniform(1, 6),
            "wind_dir_deg": rng.uniform(0, 359),
        }

    def step(self) -> dict[str, float]:
        s, rng = self.state, self.rng
        s["temperature_c"] = min(35, max(-5, s["temperature_c"] + rng.gauss(0, 0.05)))
        s["humidity_pct"] = min(98, max(20, s["humidity_pct"] + rng.gauss(0, 0.2)))
        s["pressure_msl_hpa"] = min(1030, max(995, s["pressure_msl_hpa"] + rng.gauss(0, 0.01)))
        s["wind_speed_ms"] = min(10, max(0.5, s["wind_speed_ms"] + rng.gauss(0, 0.1)))
        s["wind_dir_deg"] = (s["wind_dir_deg"] + rng.gauss(0, 2)) % 360
        values = {name: round(value, 2) for name, value in s.items()}
        values["wind_gust_ms"] = round(values["wind_speed_ms"] + rng.uniform(0.5, 4), 2)
        values["precip_mm"] = round(max(0.0, rng.gauss(0, 0.1)), 2)
        return values


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def message(station_id: str, observed_at: object, values: object, **extra: object) -> bytes:
    return json.dumps(
        {"station_id": station_id, "observed_at": observed_at, "values": values, **extra},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def _splice(template: bytes, marker: bytes, insert: bytes) -> bytes:
    assert marker in template
    return template.replace(marker, insert, 1)


class _Hostile:
    """Makers of hostile lines, one per kind; each returns the bytes of one line."""

    def __init__(self, rng: random.Random) -> None:
        self.rng = rng

    # a sound message to spoil
    def _sound(self, **extra: object) -> bytes:
        rng = self.rng
        moment = iso(START + rng.randrange(0, 10_000) * INTERVAL)
        values = {"temperature_c": round(rng.uniform(0, 30), 1), "humidity_pct": 60.0}
        return message(f"st{rng.randint(1, STATIONS):02d}", moment, values, **extra)

    def random_bytes(self) -> bytes:
        rng = self.rng
        # Not "{" first (no object can start) and not blank first (a blank line is no message).
        first = rng.choice(b"abcxyz}]:,\x00\x01\x7f\x80\xff0123456789\"'[-")
        body = bytes(rng.randrange(256) for _ in range(rng.randint(0, 200)))
        return bytes([first]) + body.replace(b"\n", b"")

    def invalid_utf8(self) -> bytes:
        where = self.rng.choice([b"STATION", b"NAME", b"SOURCE"])
        template = message("st0STATION1", iso(START), {"temperature_c": 1.0}, station_name="NAME")
        template = template[:-1] + b',"source":"SOURCE"}'
        return _splice(template, where, self.rng.choice(INVALID_UTF8))

    def truncated(self) -> bytes:
        line = self._sound(station_name="Station", lat=51.5, lon=-0.1)
        return line[: self.rng.randint(1, len(line) - 1)]

    def deep_nesting(self) -> bytes:
        rng = self.rng
        # log-uniform from 100 to 5,000 levels, and a few of 50,000
        depth = 50_000 if rng.random() < 0.002 else int(10 ** rng.uniform(2, 3.7))
        opener, closer = rng.choice([(b"[", b"]"), (b'{"a":', b"}")])
        nested = opener * depth + b"1" + closer * depth
        where = rng.choice(["bare", "values", "station_id", "unclosed"])
        if where == "bare":
            return nested
        if where == "unclosed":
            return b'{"station_id":"st01","observed_at":"2025-06-01T00:00:00Z","values":' + (
                opener * depth
            )
        template = self._sound()
        if where == "values":
            return template[: template.index(b'"values":') + 9] + nested + b"}"
        return b'{"station_id":' + nested + template[template.index(b',"observed_at"') :]

    def huge_number(self) -> bytes:
        rng = self.rng
        number = rng.choice([b"1e400", b"-1e400", b"9" * rng.randint(310, 5_000), b"1e99999"])
        where = rng.choice(["observed_at", "value", "lat", "lon"])
        if where == "observed_at":
            return (
                b'{"station_id":"st01","observed_at":' + number + b',"values":{"humidity_pct":1}}'
            )
        if where == "value":
            return _splice(self._sound(), b'"humidity_pct":60.0', b'"humidity_pct":' + number)
        return self._sound()[:-1] + f',"{where}":'.encode() + number + b"}"

    def nan_literal(self) -> bytes:
        literal = self.rng.choice([b"NaN", b"-NaN", b"Infinity", b"-Infinity", b"nan", b"inf"])
        if self.rng.random() < 0.2:
            return (
                b'{"station_id":"st01","observed_at":' + literal + b',"values":{"humidity_pct":1}}'
            )
        return _splice(self._sound(), b'"humidity_pct":60.0', b'"humidity_pct":' + literal)

    def ms_timestamp(self) -> bytes:
        seconds = START + self.rng.randrange(0, 10_000) * INTERVAL
        scale = self.rng.choice([1_000, 1_000_000])
        return message("st01", int(seconds * scale), {"temperature_c": 1.0})

    def before_1900(self) -> bytes:
        rng = self.rng
        if rng.random() < 0.5:
            moment: object = f"{rng.randint(1000, 1899)}-06-01T00:00:00Z"
        else:
            moment = rng.randint(-(10**12), -2_208_988_801)
        return message("st01", moment, {"temperature_c": 1.0})

    def bad_time(self) -> bytes:
        moment = self.rng.choice(
            [
                "0000-01-01T00:00:00Z",
                "10000-01-01T00:00:00Z",
                "2025-06-01T00:00:00",  # no offset
                "2025-02-30T00:00:00Z",
                "2025-06-01T24:61:00Z",
                "9999-12-31T23:59:59-12:00",  # past year 9999 once in UTC
                "yesterday",
                "",
                True,
                None,
            ]
        )
        return message("st01", moment, {"temperature_c": 1.0})

    def far_future(self) -> bytes:
        rng = self.rng
        if rng.random() < 0.5:
            moment: object = f"{rng.randint(2100, 9999)}-01-01T00:00:00Z"
        else:
            moment = rng.randint(4_200_000_000, 250_000_000_000)  # seconds: years 2103..9892
        return message(f"st{rng.randint(1, STATIONS):02d}", moment, {"temperature_c": 1.0})

    def duplicate_key_time(self) -> bytes:
        good, bad = b'"observed_at":"2025-06-01T00:00:00Z"', b'"observed_at":"not a time"'
        first, second = (good, bad) if self.rng.random() < 0.5 else (bad, good)
        return b'{"station_id":"st01",' + first + b"," + second + b',"values":{"humidity_pct":1}}'

    def duplicate_key_id(self) -> bytes:
        """The last of repeated keys wins (msgspec): an id with a control character."""
        hostile = json.dumps(self.rng.choice(CONTROL_IDS)).encode()
        return (
            b'{"station_id":"st01","station_id":' + hostile + b',"observed_at":'
            b'"2025-06-01T00:00:00Z","values":{"humidity_pct":1}}'
        )

    def control_id(self) -> bytes:
        """Escaped controls (``\\u001b``) and raw bidi/zero-width/C1 characters: valid JSON,
        an id validation refuses."""
        station_id = self.rng.choice(CONTROL_IDS)
        line = message(station_id, iso(START), {"temperature_c": 1.0})
        if self.rng.random() < 0.5:
            line = json.dumps(json.loads(line), separators=(",", ":")).encode()  # all escaped
        return line

    def control_id_raw(self) -> bytes:
        """Raw control bytes inside the JSON string: not JSON at all."""
        return _splice(
            message("st0X1", iso(START), {"temperature_c": 1.0}),
            b"X",
            self.rng.choice(RAW_CONTROL_BYTES),
        )

    def long_id(self) -> bytes:
        length = self.rng.choice([65, 100, self.rng.randint(65, 2_000)])
        return message("s" * length, iso(START), {"temperature_c": 1.0})

    def blank_id(self) -> bytes:
        return message(self.rng.choice(["", " ", "   ", "\t", "\u3000"]), iso(START), {"t": 1})

    def no_values(self) -> bytes:
        return message("st01", iso(START), {})

    def wrong_type(self) -> bytes:
        rng = self.rng
        sound = {"station_id": "st01", "observed_at": iso(START), "values": {"humidity_pct": 1}}
        spoiled = rng.choice(
            [
                ("station_id", 12),
                ("station_id", None),
                ("station_id", ["st01"]),
                ("station_id", {"id": "st01"}),
                ("station_id", True),
                ("values", []),
                ("values", "temperature_c=1"),
                ("values", 1),
                ("values", {"temperature_c": "12"}),
                ("values", {"temperature_c": None}),
                ("values", {"temperature_c": True}),
                ("values", {"temperature_c": [1]}),
                ("lat", "51.5"),
                ("lon", [0]),
                ("station_name", 5),
                ("source", {"x": 1}),
                ("station_id", "MISSING"),
                ("observed_at", "MISSING"),
                ("values", "MISSING"),
            ]
        )
        key, value = spoiled
        if value == "MISSING":
            del sound[key]
        else:
            sound[key] = value
        if rng.random() < 0.1:
            return rng.choice([b'"st01"', b"123", b"null", b"[]", b"true", b'[{"station_id":1}]'])
        return json.dumps(sound).encode()

    def unknown_only(self) -> bytes:
        return message(f"st{self.rng.randint(1, STATIONS):02d}", iso(START), {"visibility_m": 1e4})

    def big_garbage(self) -> bytes:
        """An unterminated string of about 1 MB."""
        return b'{"station_id":"' + b"A" * (BIG_LINE - 15)

    def big_id(self) -> bytes:
        """Sound JSON, with a 1 MB station id."""
        return message("B" * (BIG_LINE - 80), iso(START), {"temperature_c": 1.0})


HOSTILE_KINDS: dict[str, Stage] = {
    "random_bytes": "decode",
    "invalid_utf8": "decode",
    "truncated": "decode",
    "deep_nesting": "decode",
    "huge_number": "decode",
    "nan_literal": "decode",
    "ms_timestamp": "decode",
    "before_1900": "decode",
    "bad_time": "decode",
    "duplicate_key_time": "decode",
    "control_id_raw": "decode",
    "wrong_type": "decode",
    "far_future": "validate",
    "duplicate_key_id": "validate",
    "control_id": "validate",
    "long_id": "validate",
    "blank_id": "validate",
    "no_values": "validate",
    "unknown_only": "reading",
}
BIG_KINDS: dict[str, tuple[Stage, int]] = {"big_garbage": ("decode", 3), "big_id": ("validate", 2)}


def _bad_reading(rng: random.Random) -> tuple[str, float]:
    """One reading to spoil a sound observation with: out of range, or of an unknown
    variable (one named in SQL among them)."""
    return rng.choice(
        [
            ("humidity_pct", 150.0),
            ("temperature_c", -300.0),
            ("pressure_msl_hpa", 5.0),
            ("wind_dir_deg", 400.0),
            ("precip_mm", -1.0),
            ("wind_gust_ms", 1e300),
            ("visibility_m", 10_000.0),
            ('temperature_c"; DROP TABLE observations; --', 1.0),
        ]
    )


def _sound_lines(
    rng: random.Random, readings_per_station: int, bad_readings: int, counts: CorpusCounts
) -> tuple[list[bytes], set[int]]:
    """Sound observations in time order, every station each minute, then the SQL-named and
    control-named stations; ``bad_readings`` of the regular ones (their indices returned)
    carry one bad reading."""
    walks = [_Walk(rng) for _ in range(STATIONS)]
    lines: list[bytes] = []
    spoiled = set(rng.sample(range(STATIONS * readings_per_station), bad_readings))
    for step in range(readings_per_station):
        moment = iso(START + step * INTERVAL)
        for index, walk in enumerate(walks):
            station_id = f"st{index + 1:02d}"
            values = walk.step()
            if len(lines) in spoiled:
                name, value = _bad_reading(rng)
                values[name] = value
            line = message(
                station_id,
                moment,
                values,
                station_name=f"Station {index + 1}",
                lat=round(40 + index * 0.5, 4),
                lon=round(-5 + index * 0.5, 4),
                source="corpus",
            )
            if rng.random() < 0.01:  # a CRLF file, or padding: still one sound message
                line = rng.choice([line + b"\r", b"  " + line + b" \t"])
            lines.append(line)
            counts.stations.add(station_id)
    extra = [(sid, f"SQL {n}") for n, sid in enumerate(SQL_IDS)]
    extra += [(f"ctl{n}", name) for n, name in enumerate(HOSTILE_NAMES)]
    for station_id, name in extra:
        for step in range(10):
            values = {"temperature_c": 10.0 + step / 10, "humidity_pct": 50.0}
            lines.append(
                message(station_id, iso(START + step * INTERVAL), values, station_name=name)
            )
        counts.stations.add(station_id)
    counts.valid_unique = len(lines)
    counts.rejected_readings += bad_readings
    return lines, spoiled


def _with_resends(
    rng: random.Random, lines: list[bytes], resends: int, clean: set[int]
) -> list[bytes]:
    """Exact re-sends of sound lines without bad readings: half soon after the original (the
    same batch, or the next), half at the very end (long after: the store recognises them)."""
    chosen = rng.sample(sorted(clean), resends)
    soon = {i: rng.randint(0, 60) for i in chosen[: resends // 2]}
    pending: list[tuple[int, bytes]] = []
    out: list[bytes] = []
    for i, line in enumerate(lines):
        out.append(line)
        if i in soon:
            pending.append((i + soon[i], line))
        due = [p for p in pending if p[0] <= i]
        pending = [p for p in pending if p[0] > i]
        out += [p[1] for p in due]
    out += [p[1] for p in pending]
    out += [lines[i] for i in chosen[resends // 2 :]]
    return out


def write_corpus(
    path: Path,
    *,
    seed: int = 20_250_601,
    readings_per_station: int = 1_000,
    hostile: int = 100_000,
    duplicates: int = 200,
    bad_readings: int = 500,
    big_lines: bool = True,
) -> CorpusCounts:
    """Write the corpus to ``path``; returns what replaying it must give.

    ``hostile`` lines are shared evenly among :data:`HOSTILE_KINDS` and placed at random among
    the sound ones (whose order is kept); ``big_lines`` adds the few lines of about 1 MB
    (:data:`BIG_KINDS`)."""
    rng = random.Random(seed)
    counts = CorpusCounts()
    sound, spoiled = _sound_lines(rng, readings_per_station, bad_readings, counts)
    clean = set(range(len(sound))) - spoiled
    stream = _with_resends(rng, sound, duplicates, clean)
    counts.duplicates = duplicates

    maker = _Hostile(rng)
    kinds = list(HOSTILE_KINDS)
    planned: list[str] = [kinds[i % len(kinds)] for i in range(hostile)]
    if big_lines:
        planned += [kind for kind, (_, n) in BIG_KINDS.items() for _ in range(n)]
        counts.big_lines = sum(n for _, n in BIG_KINDS.values())
    rng.shuffle(planned)
    bad: list[bytes] = []
    for kind in planned:
        make: Callable[[], bytes] = getattr(maker, kind)
        line = make()
        assert b"\n" not in line and line.strip(), kind
        bad.append(line)
        stage = HOSTILE_KINDS.get(kind) or BIG_KINDS[kind][0]
        if stage == "reading":
            counts.rejected_readings += 1
        else:
            counts.rejected[kind] = counts.rejected.get(kind, 0) + 1
            counts.stages[kind] = stage

    with path.open("wb") as out:
        remaining_sound, remaining_bad = len(stream), len(bad)
        s = b = 0
        while remaining_sound or remaining_bad:
            if rng.random() * (remaining_sound + remaining_bad) < remaining_sound:
                out.write(stream[s] + b"\n")
                s, remaining_sound = s + 1, remaining_sound - 1
            else:
                out.write(bad[b] + b"\n")
                b, remaining_bad = b + 1, remaining_bad - 1
    counts.lines = len(stream) + len(bad)
    return counts
