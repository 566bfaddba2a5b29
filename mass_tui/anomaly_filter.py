"""The anomaly log's filter, typed after ``/``: ``station:lon variable:pressure detector:cusum
score>0.6``. Words without a key match station, variable or detector."""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.anomaly import Anomaly

KEYS = {
    "station": "station",
    "s": "station",
    "variable": "variable",
    "var": "variable",
    "v": "variable",
    "detector": "detector",
    "det": "detector",
    "d": "detector",
}


@dataclass(frozen=True, slots=True)
class AnomalyFilter:
    station: str | None = None
    variable: str | None = None
    detector: str | None = None
    min_score: float = 0.0
    words: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self != AnomalyFilter()

    @classmethod
    def parse(cls, text: str) -> AnomalyFilter:
        """Raises ValueError naming the part it cannot read."""
        fields: dict[str, str] = {}
        words: list[str] = []
        min_score = 0.0
        for part in text.split():
            lowered = part.lower()
            if lowered.startswith(("score>", "score>=")):
                raw = lowered.split(">", 1)[1].lstrip("=")
                try:
                    min_score = float(raw)
                except ValueError:
                    raise ValueError(f"score needs a number 0..1, got {raw!r}") from None
                if not 0 <= min_score <= 1:
                    raise ValueError(f"score needs a number 0..1, got {raw!r}")
            elif ":" in lowered:
                key, value = lowered.split(":", 1)
                if key not in KEYS or not value:
                    raise ValueError(
                        f"unknown filter {part!r} (use station:, variable:, detector:, score>)"
                    )
                fields[KEYS[key]] = value
            else:
                words.append(lowered)
        return cls(min_score=min_score, words=tuple(words), **fields)

    def matches(self, anomaly: Anomaly, label: str = "") -> bool:
        """Substring matches, case-insensitive: ``variable:pressure`` finds both pressures. A
        variable matches by name or by ``label``, what the log shows ("P msl")."""
        station, detector = anomaly.station_id.lower(), anomaly.detector.lower()
        variable = f"{anomaly.variable} {label}".lower()
        return (
            anomaly.score >= self.min_score
            and (self.station is None or self.station in station)
            and (self.variable is None or self.variable in variable)
            and (self.detector is None or self.detector in detector)
            and all(w in station or w in variable or w in detector for w in self.words)
        )
