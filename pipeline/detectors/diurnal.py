"""The daily cycle each series has learnt, so that it is not an anomaly.

Temperature peaks in the afternoon, humidity before dawn, wind after midday, pressure twice a
day (the atmospheric tide). A baseline that follows the level over hours sees each of those as
a residual that comes back every day at the same hour: on hourly records that was the morning
wind after a calm night and humidity falling as fog clears. So every series keeps a profile:
for each of the 24 full hours of the day, how far the mean of the readings nearest it lies
from the day's mean, averaged over past days (exponentially, over about ``memory_days``;
faster while few days have been seen). The statistical detectors see each reading less its
profile (interpolated between full hours), once ``MIN_DAYS`` days have taught it, in series
whose baseline remembers at least an hour (on the last day learnt, readings at least
``baseline_lam`` hours apart: 3 minutes by default): a baseline that forgets within the hour
follows the daily cycle by itself, and a profile taken out of 1-minute readings adds only
its own noise. The rules and the stuck check see readings as they are.

The profile used on day D is learnt from the days before D only, so it does not depend on how
the readings were cut into batches. A day counts once it has readings in at least
``MIN_HOURS`` of its hours (a day's mean from a few hours says nothing of the others). Days
and hours are UTC: the profile is the station's own, so only its rhythm matters, not which
hour it falls in.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pipeline.rows import with_rows
from pipeline.settings import DiurnalSettings
from pipeline.variables import VariableSpec

HOURS = 24
DAY_S = 86_400.0
HOUR_S = 3_600.0
MIN_HOURS = 12
MIN_DAYS = 3


class DiurnalProfile:
    def __init__(
        self, variables: Sequence[VariableSpec], settings: DiurnalSettings, min_spacing_s: float
    ) -> None:
        applies = np.array([v.statistical for v in variables], dtype=bool)
        self.columns = np.flatnonzero(applies) if settings.enabled else np.empty(0, np.intp)
        self.memory_days = settings.memory_days
        self.min_spacing_s = min_spacing_s
        k = len(self.columns)
        self.profile = np.zeros((0, HOURS, k))
        self.days_learnt = np.zeros((0, k))
        self.taken_out = np.zeros((0, k), dtype=bool)  # the series the profile is taken out of
        self._per_hour = np.zeros((0, k))  # readings an hour, on the last day that counted
        self._sums = np.zeros((0, HOURS, k))  # the day being gathered: sums and counts per hour
        self._counts = np.zeros((0, HOURS, k))
        self._day = np.empty(0)  # which day that is, per station (-inf: none yet)
        self._last_mean = np.zeros((0, k))  # the mean of the last day that counted
        self._mean_day = np.empty((0, k))  # and which day that was

    @property
    def active(self) -> bool:
        return self.columns.shape[0] > 0

    def grow(self, extra: int) -> None:
        for name in ("profile", "_sums", "_counts", "days_learnt", "_per_hour", "_last_mean"):
            setattr(self, name, with_rows(getattr(self, name), extra, 0.0))
        self.taken_out = with_rows(self.taken_out, extra, False)
        self._day = with_rows(self._day, extra, -np.inf)
        self._mean_day = with_rows(self._mean_day, extra, -np.inf)

    def keep_stations(self, kept: np.ndarray) -> None:
        kept = kept[kept < self._day.shape[0]]
        for name in (
            "profile",
            "days_learnt",
            "_sums",
            "_counts",
            "_day",
            "_last_mean",
            "_mean_day",
        ):
            setattr(self, name, getattr(self, name)[kept])

    def take_out(
        self, stations: np.ndarray, times: np.ndarray, readings: np.ndarray
    ) -> np.ndarray | None:
        """``readings`` (n, V, in station then time order) less the profile of their station
        and hour, a copy, or None where no reading had a profile taken out (the first days of
        every series, and 1-minute series always); either way the day's readings are gathered
        for learning. Day by day, in time order: a batch that crosses midnight sees, after it,
        the profile the day before it taught."""
        out = None
        nearest = np.floor(times / HOUR_S + 0.5)  # each reading's nearest full hour
        days = np.floor_divide(nearest, HOURS)  # and that hour's day: 23:40 is tomorrow's 00
        hours = (nearest % HOURS).astype(np.intp)
        values = readings[:, self.columns]
        single_day = days.shape[0] and days.min() == days.max()
        for day in days[:1] if single_day else np.unique(days):
            rows = slice(None) if single_day else np.flatnonzero(days == day)
            at, hour, x = stations[rows], hours[rows], values[rows]
            self._close_days_before(np.unique(at), day)
            if self.taken_out[at].any():
                out = readings.copy() if out is None else out
                cells = (
                    (rows, self.columns) if isinstance(rows, slice) else np.ix_(rows, self.columns)
                )
                out[cells] = x - self._expected(at, times[rows]) * self.taken_out[at]
            self._gather(at, hour, x)
        return out

    def _expected(self, stations: np.ndarray, times: np.ndarray) -> np.ndarray:
        """The profile at ``times``, interpolated between full hours (each hour's profile is
        of the readings nearest it): a step half-way would be a jump of its own in 1-minute
        readings."""
        position = (times % DAY_S) / HOUR_S
        before = np.floor(position)
        share = (position - before)[:, None]
        first = (before % HOURS).astype(np.intp)
        expected = (1.0 - share) * self.profile[stations, first]
        expected += share * self.profile[stations, (first + 1) % HOURS]
        return expected

    def _gather(self, stations: np.ndarray, hours: np.ndarray, values: np.ndarray) -> None:
        """Add one day's readings (station then time order) to the sums of their hours: each
        run of rows of one (station, hour) is summed at once, and the runs added with add.at
        (a station's hour can come as two runs, should its readings not be in time order)."""
        key = stations * HOURS + hours
        starts = np.flatnonzero(np.append(True, key[1:] != key[:-1]))
        present = ~np.isnan(values)
        cells = (stations[starts], hours[starts])
        np.add.at(self._sums, cells, np.add.reduceat(np.where(present, values, 0.0), starts, 0))
        np.add.at(self._counts, cells, np.add.reduceat(present, starts, axis=0))

    def _close_days_before(self, stations: np.ndarray, day: float) -> None:
        """Learn from the day each of ``stations`` was gathering, if it ended before ``day``.

        The weather's drift through that day (a front's falling pressure) is no daily cycle:
        learnt as one, it would come back every midnight as a jump from the last hour's
        profile to the first. It is taken out as the line between the previous day's mean
        and this one's, so a day is learnt only after a day that counted."""
        gathered = self._day[stations]
        ended = stations[gathered < day]
        gathered = gathered[gathered < day]
        self._day[stations] = np.maximum(self._day[stations], day)
        if not ended.shape[0]:
            return
        counts, sums = self._counts[ended], self._sums[ended]
        seen = counts > 0
        hours_seen = seen.sum(axis=1)  # (stations, k)
        enough = hours_seen >= MIN_HOURS
        with np.errstate(invalid="ignore", divide="ignore"):
            hourly = np.where(seen, sums / counts, 0.0)
            day_mean = hourly.sum(axis=1) / hours_seen  # the mean of the hours, each once
        follows = (self._mean_day[ended] == gathered[:, None] - 1) & enough
        drift = (day_mean - self._last_mean[ended]) / HOURS  # per hour, centred at noon
        hour = np.arange(HOURS, dtype=np.float64)[None, :, None] - (HOURS - 1) / 2.0
        deviation = hourly - day_mean[:, None, :] - drift[:, None, :] * hour
        gain = 1.0 / np.minimum(self.days_learnt[ended] + 1.0, self.memory_days)
        learn = seen & follows[:, None, :]
        profile = self.profile[ended]
        profile += np.where(learn, gain[:, None, :] * (deviation - profile), 0.0)
        self.profile[ended] = profile
        self.days_learnt[ended] += follows
        per_hour = self._per_hour[ended]
        with np.errstate(invalid="ignore", divide="ignore"):
            np.copyto(per_hour, counts.sum(axis=1) / hours_seen, where=enough)
        self._per_hour[ended] = per_hour
        self.taken_out[ended] = (self.days_learnt[ended] >= MIN_DAYS) & (
            per_hour * self.min_spacing_s <= HOUR_S
        )
        last_mean = self._last_mean[ended]
        np.copyto(last_mean, day_mean, where=enough)
        self._last_mean[ended] = last_mean
        self._mean_day[ended] = np.where(enough, gathered[:, None], self._mean_day[ended])
        self._sums[ended] = 0.0
        self._counts[ended] = 0.0
