"""The detector bank: every detector and rule over every station and variable, vectorised.

A per-reading Python loop tops out near 70,000 observations a second; the pipeline needs more
than twice that. So the state of all series lives in numpy arrays indexed by station (see
:mod:`~pipeline.detectors.layout`), a batch is cut into rounds in which each station appears
once (:mod:`~pipeline.detectors.ordering`), and each round is a few dozen whole-array
operations on contiguous slices. The rules have no recursion and are computed for the whole
batch before the rounds (:mod:`~pipeline.detectors.rules`).

Which detectors run is the catalogue's (:mod:`pipeline.threshold_catalogue`): the rows of the
detector axis, the variables each applies to and the batch statistics to call are derived
from its entries, so a detector computed from a batch is its own module and its catalogue
entries (:mod:`~pipeline.detectors.batch`), nothing here; so is a detector whose state recurs
reading by reading, stepped each round after the core on the same slices, in its own slots
of the state (:mod:`~pipeline.detectors.stepped`). The statistical core itself, z-score,
EWMA, CUSUM, stuck and gap, is one fused pass per round
(:func:`~pipeline.detectors.statistics.advance`) sharing a baseline, the elapsed-time weights
and the missing-value handling: a call per detector each round would cost a few numpy calls
on every one of hundreds of rounds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np

from pipeline.anomaly import Anomaly
from pipeline.detector_axis import CALIBRATED, CUSUM, GAP, STUCK, ZSCORE, axis_of
from pipeline.detectors.batch import BatchStatistic, factory
from pipeline.detectors.consistency import ConsistencyCheck
from pipeline.detectors.diurnal import DiurnalProfile
from pipeline.detectors.edges import gate
from pipeline.detectors.holds import LongHolds
from pipeline.detectors.layout import (
    DT_REF,
    LAST_T,
    LAST_Z,
    N_CORE,
    N_SLOTS,
    widen,
    with_stepped,
)
from pipeline.detectors.ordering import RoundPlan, plan_rounds
from pipeline.detectors.quality import QualityControl, qc_anomalies
from pipeline.detectors.result import (
    DetectionResult,
    anomalies_from,
    in_frame_order,
    score_arrays,
)
from pipeline.detectors.statistics import (
    StatisticalConstants,
    advance,
    calibrate,
    cells,
    hold_short_runs,
)
from pipeline.detectors.stepped import SteppedStatistic
from pipeline.detectors.stepped import factory as stepped_factory
from pipeline.detectors.thresholds import GateLimits, Threshold, ThresholdTable
from pipeline.frame import ObservationFrame
from pipeline.rows import with_rows
from pipeline.settings import DetectorSettings, RuleSettings
from pipeline.threshold_catalogue import CATALOGUE, Catalogue
from pipeline.variables import ANEMOMETER, VANE, VariableSpec


class DetectorBank:
    """Z-score, EWMA, CUSUM, stuck-sensor and gap detectors plus the pressure-fall, gust and
    rapid-change rules (or whatever ``catalogue`` extends them with), for any number of
    stations.

    :meth:`process` is driven by one thread (the consumer). :meth:`set_threshold` may be called
    from another; it takes effect from the next batch.
    """

    def __init__(
        self,
        variables: Sequence[VariableSpec],
        detectors: DetectorSettings,
        rules: RuleSettings,
        catalogue: Catalogue = CATALOGUE,
    ) -> None:
        self.variables = tuple(variables)
        self._names = tuple(v.name for v in self.variables)
        self._axis = axis = axis_of(catalogue)
        self._table = ThresholdTable(self.variables, detectors, rules, catalogue)
        constants = StatisticalConstants.build(self.variables, detectors, axis.spacing)
        self._min_flat_s = detectors.stuck.min_hours * 3600.0
        self._bound_flat_s = max(detectors.stuck.bound_hours, detectors.stuck.min_hours) * 3600.0
        # A vane does not turn in a calm: it rests while the anemometer rests at 0 m/s.
        names = list(self._names)
        self._vane = (
            (names.index(VANE), names.index(ANEMOMETER))
            if VANE in names and ANEMOMETER in names
            else None
        )
        # One batch or stepped statistic per factory the catalogue names (the rules share one).
        columns = {
            axis.names[d]: self._table.columns(axis.names[d]) for d in axis.batch + axis.stepped
        }
        sources = dict.fromkeys(axis.sources[d] for d in axis.batch)
        self._batch: list[BatchStatistic] = [
            factory(source)(self.variables, columns, detectors, rules) for source in sources
        ]
        stepped_rows = axis.stepped_rows()
        stepped: list[SteppedStatistic] = [
            stepped_factory(source)(self.variables, columns, detectors, rules)
            for source in stepped_rows
        ]
        # Their slots after the core's; each round steps them (state slots, statistics rows).
        initial, slots = with_stepped(constants.initial, [s.initial() for s in stepped])
        self._constants = replace(constants, initial=initial)
        self._wide = self._constants
        self._stepped = [
            (s.step, where, rows)
            for s, where, rows in zip(stepped, slots, stepped_rows.values(), strict=True)
        ]
        # After a sensor step the rules see nothing of the series until the old level has left
        # their windows: a pressure-fall rule would otherwise take the step for a fall.
        relearn_s = max((b.relearn_s for b in self._batch), default=0.0)
        self._qc = QualityControl(self.variables, detectors.qc, relearn_s)
        self._consistency = ConsistencyCheck(self.variables, detectors.qc)
        self._holds = LongHolds(len(self.variables), detectors.max_gap_s)
        self._diurnal = DiurnalProfile(
            self.variables, detectors.diurnal, min_spacing_s=detectors.ewma.baseline_lam * 3600.0
        )
        n_vars, n_detectors = len(self.variables), len(axis.names)
        # 1 where a detector applies to a variable, NaN elsewhere: multiplying the statistics by
        # it leaves "not evaluated" wherever a detector is disabled or irrelevant.
        self._applicable = np.ones((n_detectors, n_vars))
        for d, name in enumerate(axis.names):
            self._applicable[d, ~self._table.applies(name)] = np.nan
        self._state = np.empty((0, initial.shape[0], n_vars))
        self._levels = np.zeros((0, n_detectors, n_vars), dtype=np.int8)
        self._ring = np.zeros((0, self._constants.ring_stride))
        self._last_seen = np.empty(0)

    # -- batches -----------------------------------------------------------------------------

    def process(
        self,
        frame: ObservationFrame,
        station_ids: Sequence[str],
        *,
        elevations: Sequence[float] = (),
        emit: bool = True,
        want_scores: bool = False,
    ) -> DetectionResult:
        """Take a batch in. ``station_ids[i]`` names station index ``i``, ``elevations[i]``
        is its height in metres (NaN or missing where unknown).

        ``emit=False`` updates the state only (warming the detectors from stored history) and
        returns no anomalies. Readings not later than their station's previous one are ignored.
        """
        n, n_vars, axis = len(frame), len(self.variables), self._axis
        values = np.asarray(frame.values, dtype=np.float64)
        if values.shape != (n, n_vars):
            raise ValueError(
                f"frame values have shape {values.shape}, expected ({n}, {n_vars}) "
                "(one column per variable of the bank)"
            )
        if n == 0:
            scores = {name: np.empty((0, n_vars)) for name in axis.names} if want_scores else None
            return DetectionResult([], scores)
        station = np.asarray(frame.station, dtype=np.intp)
        observed_at = np.asarray(frame.observed_at, dtype=np.float64)
        self._ensure_capacity(int(station.max()) + 1)
        limits = self._table.limits()

        plan = plan_rounds(station, observed_at, self._last_seen)
        rows = plan.by_station
        stations, times, readings = station[rows], observed_at[rows], values[rows]
        measured = readings  # what the sensors reported, held back or not
        if rows.shape[0]:
            ends = np.append(plan.starts[1:], rows.shape[0]) - 1
            self._last_seen[stations[ends]] = times[ends]
        order = plan.to_rounds
        faults: list[Anomaly] = []
        suspect = None  # (station, time) order: readings quality control held back
        if self._consistency.active:
            # Readings impossible at their station or beside their message's others first:
            # withheld from everything after, the step test included (they are no "last good").
            inconsistent = self._consistency.check(stations, times, readings, elevations)
            if inconsistent is not None:
                suspect = inconsistent.held
                readings = np.where(suspect, np.nan, readings)
                if emit:
                    faults += inconsistent.anomalies(stations, times, station_ids, self._names)
        screened = None
        if self._qc.active:
            # Quality control first, in round order: what it holds back no rule or detector sees.
            screened = self._qc.screen_batch(stations, times, readings, order)
            unseen = np.empty_like(screened.held)
            unseen[order] = screened.held | screened.relearning
            held = np.empty_like(screened.held)
            held[order] = screened.held
            suspect = held if suspect is None else suspect | held
            rule_readings = np.where(unseen, np.nan, readings)
            readings = np.where(held, np.nan, readings)  # the detectors re-learn through a step
        else:
            rule_readings = readings
        batch = [
            (axis.row(name), columns, statistic)
            for computed in self._batch
            for name, columns, statistic in computed.statistics(
                stations, times, rule_readings, plan.starts
            )
        ]
        seen = self._diurnal.take_out(stations, times, readings) if self._diurnal.active else None
        if seen is not None:
            seen = seen[order]

        # From here on, round order. The rounds write every other row of the statistics.
        stations_sorted, times_sorted = stations, times
        rows, stations, times = rows[order], stations[order], times[order]
        readings = readings[order]
        stats = np.empty((axis.spacing + 1, rows.shape[0], n_vars))
        stats[list(axis.batch)] = np.nan
        for detector, columns, statistic in batch:
            stats[detector][:, columns] = statistic[order]
        triggered = np.zeros((len(axis.names), rows.shape[0], n_vars), dtype=bool)
        tails = np.full((len(CALIBRATED), rows.shape[0], n_vars), np.nan)
        restart = screened.restart if screened is not None else None
        after_hold = self._holds.restarts(
            stations_sorted, times_sorted, measured, suspect, plan.starts
        )
        if after_hold is not None:
            restart = after_hold[order] if restart is None else restart | after_hold[order]
        held_rounds = None if suspect is None else suspect[order]
        self._run_rounds(
            plan,
            times,
            readings if seen is None else seen,
            stats,
            triggered,
            limits,
            tails,
            restart,
            None if seen is None else readings,
            held_rounds,
        )

        anomalies = []
        if emit:
            anomalies = anomalies_from(
                triggered,
                stats,
                tails,
                readings,
                times,
                stations,
                station_ids,
                self._names,
                limits,
                axis,
            )
            if screened is not None and screened.events:
                faults += qc_anomalies(screened, stations, station_ids, self._names)
            if faults:
                anomalies = sorted(anomalies + faults, key=lambda a: a.observed_at)
        if suspect is not None and suspect.any():
            held_back = np.zeros((n, n_vars), dtype=bool)
            held_back[plan.by_station] = suspect
        else:
            held_back = None
        if not want_scores:
            return DetectionResult(anomalies, None, suspect=held_back)
        statistics = in_frame_order(stats[: len(axis.names)], rows, n, axis.names)
        scores = score_arrays(stats, tails, limits, rows, n, axis.names)
        return DetectionResult(anomalies, scores, statistics, held_back)

    def _run_rounds(
        self,
        plan: RoundPlan,
        times: np.ndarray,
        readings: np.ndarray,
        stats: np.ndarray,
        triggered: np.ndarray,
        limits: GateLimits,
        tails: np.ndarray,
        restart: np.ndarray | None = None,
        raw: np.ndarray | None = None,
        held: np.ndarray | None = None,
    ) -> None:
        """Run the rounds of a batch (arrays in round order) on a work copy of the state.
        ``tails`` (calibrated detectors, n, V) receives each statistic's ``u`` (see
        :mod:`~pipeline.detectors.calibration`). ``restart`` (n, V): series whose state starts
        again at that reading (a sensor step). ``raw``: the readings as measured, where
        ``readings`` have had the daily profile taken out. ``held`` (n, V): readings quality
        control held back (NaN in ``readings``): no detector sees them, but the sensor did
        report, so its series is not silent (no gap, no restart, no no-data alert)."""
        ranked, bounds = plan.ranked, plan.bounds
        n_ranked, n_vars = ranked.shape[0], len(self.variables)
        if self._wide.resolution.shape[0] < n_ranked:
            self._wide = self._constants.widened(max(n_ranked, 2 * self._wide.resolution.shape[0]))
        constants = self._wide
        # Everything the rounds touch is laid out (..., ranked station, variable) and contiguous,
        # so that round r works on prefixes [:m_r] (see layout).
        work = _gathered(self._state, ranked)
        levels = _gathered(self._levels, ranked)
        wide_limits = limits.widened(n_ranked)
        cusum_h = wide_limits.lower[CUSUM]
        below = np.nextafter(wide_limits.lower, -np.inf)  # "just under the threshold"
        n_detectors = len(self._axis.names)
        gating = np.empty((n_detectors, n_ranked, n_vars))
        min_flat = self._min_flat_s
        applicable = widen(self._applicable, n_ranked)
        ring_base = ranked[:, None] * constants.ring_stride + constants.ring_offsets[:n_ranked]
        ring = self._ring.reshape(-1)
        wide_times = np.repeat(times[:, None], n_vars, axis=1)
        # What only some rounds need is found for the whole batch at once: per-round checks
        # cost a numpy call each, on every one of hundreds of rounds.
        measured = readings if raw is None else raw
        missing_all = np.isnan(readings)
        resting_all = (measured <= constants.rest_floor[:1]) | (
            measured >= constants.rest_ceiling[:1]
        )
        if self._vane is not None:
            vane, anemometer = self._vane
            resting_all[:, vane] |= measured[:, anemometer] <= constants.rest_floor[0, anemometer]
        any_missing = _rounds_with(missing_all, bounds)
        any_resting = _rounds_with(resting_all, bounds)
        any_restart = _rounds_with(restart, bounds)
        any_held = _rounds_with(held, bounds)
        stepped = self._stepped
        with np.errstate(divide="ignore", invalid="ignore"):
            for r, (start, stop) in enumerate(
                zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True)
            ):
                m = stop - start
                state = work[:, :m]
                x = readings[start:stop]
                x_raw = None if raw is None else raw[start:stop]
                round_stats = stats[:, start:stop]
                if restart is not None and any_restart[r]:
                    again = cells(restart[start:stop])
                    state[:N_CORE, again[0], again[1]] = constants.initial[:N_CORE, again[1]]
                    if stepped:
                        state[N_SLOTS:, again[0], again[1]] = constants.initial[N_SLOTS:, again[1]]
                    levels[:, again[0], again[1]] = 0
                missing = missing_all[start:stop]
                where_missing = cells(missing) if any_missing[r] else None
                if where_missing is not None:
                    # A missing value leaves its series exactly as it was.
                    saved = state[:, where_missing[0], where_missing[1]]
                restarted = advance(
                    state,
                    x,
                    wide_times[start:stop],
                    round_stats,
                    ring,
                    ring_base[:m],
                    constants,
                    cusum_h[:m],
                    where_missing,
                    x_raw,
                    resting_all[start:stop] if any_resting[r] else None,
                )
                if restarted is not None:
                    taken = ~missing[restarted]
                    levels[:, restarted[0][taken], restarted[1][taken]] = 0
                    if stepped:
                        state[N_SLOTS:, restarted[0], restarted[1]] = constants.initial[
                            N_SLOTS:, restarted[1]
                        ]
                for step, where, rows in stepped:
                    step(state[where], x, wide_times[start:stop], round_stats[rows])
                round_stats[:n_detectors] *= applicable[:, :m]
                if where_missing is not None:
                    round_stats[:, where_missing[0], where_missing[1]] = np.nan
                    state[:, where_missing[0], where_missing[1]] = saved
                if any_held[r]:
                    assert held is not None
                    reported = np.nonzero(held[start:stop])
                    state[LAST_T, reported[0], reported[1]] = times[start + reported[0]]
                calibrate(state, round_stats, below[:, :m], tails[:, start:stop], gating[:, :m])
                round_times = wide_times[start:stop]
                hold_short_runs(
                    state,
                    round_times,
                    gating[:, :m],
                    below[:, :m],
                    min_flat,
                    resting_all[start:stop] if any_resting[r] else None,
                    self._bound_flat_s,
                )
                gate(
                    levels[:, :m], gating[:, :m], triggered[:, start:stop], wide_limits, round_stats
                )
        self._state[ranked] = work.transpose(1, 0, 2)
        self._levels[ranked] = levels.transpose(1, 0, 2)

    def keep_stations(self, kept: np.ndarray) -> None:
        """Keep only the stations at ``kept``, renumbered in that order (see
        :meth:`pipeline.registry.StationRegistry.keep`); the memory of the rest is freed."""
        kept = kept[kept < self._state.shape[0]]
        self._state = self._state[kept]
        self._levels = self._levels[kept]
        self._ring = self._ring[kept]
        self._last_seen = self._last_seen[kept]
        for batch in self._batch:
            batch.keep_stations(kept)
        self._qc.keep_stations(kept)
        self._holds.keep_stations(kept)
        self._consistency.keep_stations(kept)
        self._diurnal.keep_stations(kept)

    def _ensure_capacity(self, n_stations: int) -> None:
        capacity = self._state.shape[0]
        if n_stations <= capacity:
            return
        # A quarter more at a time: room for stations still to come without, at 20,000
        # stations, holding thousands of unused ones (26 KB each).
        grown = max(n_stations, capacity + capacity // 4, 8)
        extra = grown - capacity
        self._state = with_rows(self._state, extra, self._constants.initial)
        self._levels = with_rows(self._levels, extra, 0)
        self._ring = with_rows(self._ring, extra, 0.0)
        self._last_seen = with_rows(self._last_seen, extra, -np.inf)
        for batch in self._batch:
            batch.grow(grown)
        self._qc.grow(extra)
        self._holds.grow(extra)
        self._consistency.grow(extra)
        self._diurnal.grow(extra)

    # -- state for the console -----------------------------------------------------------------

    def latest_zscore(self, station_index: int) -> np.ndarray:
        """(V,) latest rolling z-score of each variable of a station; NaN where none yet."""
        if not 0 <= station_index < self._state.shape[0]:
            return np.full(len(self.variables), np.nan)
        return self._state[station_index, LAST_Z] * self._applicable[ZSCORE]

    def holding_rules(self, station_ids: Sequence[str]) -> set[tuple[str, str, str]]:
        """(station id, rule, variable) of every rule currently past its advisory threshold."""
        n = min(len(station_ids), self._levels.shape[0])
        rules = self._axis.rules
        levels = self._levels[:n][:, rules]
        station, rule, column = np.nonzero(levels > 0)
        return {
            (station_ids[s], self._axis.names[rules[r]], self._names[c])
            for s, r, c in zip(station.tolist(), rule.tolist(), column.tolist(), strict=True)
        }

    def frozen_series(self, station_ids: Sequence[str]) -> set[tuple[str, str]]:
        """(station id, variable) of every series whose stuck check currently holds."""
        n = min(len(station_ids), self._levels.shape[0])
        station, column = np.nonzero(self._levels[:n, STUCK] > 0)
        return {
            (station_ids[s], self._names[c])
            for s, c in zip(station.tolist(), column.tolist(), strict=True)
        }

    def inconsistent_series(self, station_ids: Sequence[str]) -> set[tuple[str, str, str]]:
        """(station id, detector, variable) of every run of implausible or inconsistent
        readings open now."""
        n = min(len(station_ids), self._state.shape[0])
        return {
            (station_ids[s], detector, self._names[c])
            for s, c, detector in self._consistency.holding(n)
        }

    def watched_series(self, n_stations: int) -> np.ndarray:
        """(stations,) how many series of each station have reported and are gap-checked."""
        n = min(n_stations, self._state.shape[0])
        reported = ~np.isnan(self._state[:n, LAST_T]) & ~np.isnan(self._applicable[GAP])
        return np.bincount(np.nonzero(reported)[0], minlength=n_stations)

    def silent_series(
        self, n_stations: int, now: float, factor: float, min_silence_s: float
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(station, variable, seconds silent, seconds allowed) of every series the gap check
        applies to that has been silent at ``now`` for longer than ``factor`` times its usual
        spacing and ``min_silence_s``: a dropout while it lasts, not only once it ends."""
        n = min(n_stations, self._state.shape[0])
        last = self._state[:n, LAST_T]
        # NaN until a series' second reading: its usual spacing is not known before, and a
        # station reporting hourly is not "silent" for the first hour.
        allowed = np.maximum(factor * self._state[:n, DT_REF], min_silence_s)
        with np.errstate(invalid="ignore"):
            silent_for = now - last
            silent = (silent_for > allowed) & ~np.isnan(self._applicable[GAP])
        station, column = np.nonzero(silent)
        return station, column, silent_for[station, column], allowed[station, column]

    def newest_reading(self, stations: np.ndarray) -> np.ndarray:
        """(len(stations),) the time of each station's newest reading of any variable, this
        batch's included: how far its own readings have got (stations that have reported)."""
        return np.nanmax(self._state[stations, LAST_T], axis=1)

    # -- thresholds ----------------------------------------------------------------------------

    def thresholds(self, variable: str) -> list[Threshold]:
        """Every tunable threshold that applies to ``variable``, detectors then rules."""
        return self._table.listing(variable)

    def set_threshold(self, detector: str, parameter: str, variable: str, value: float) -> None:
        """Change one threshold for one variable, from the next observation on.

        Raises ValueError naming the problem for an unknown detector, parameter or variable, a
        parameter that does not apply to the variable, or a value that is not positive.
        """
        self._table.set(detector, parameter, variable, float(value))


def _rounds_with(mask: np.ndarray | None, bounds: np.ndarray) -> list[bool]:
    """For each round (``bounds``), whether ``mask`` (rows in round order, V) is set in it."""
    if mask is None or bounds.shape[0] < 2:
        return [False] * max(bounds.shape[0] - 1, 0)
    return np.logical_or.reduceat(mask.any(axis=1), bounds[:-1]).tolist()


def _gathered(state: np.ndarray, ranked: np.ndarray) -> np.ndarray:
    """``state[ranked]`` (stations, slots, V) as a contiguous (slots, stations, V) work array,
    gathered straight into that layout (a gather then a transposed copy held both at once)."""
    work = np.empty((state.shape[1], ranked.shape[0], state.shape[2]), dtype=state.dtype)
    np.take(state.transpose(1, 0, 2), ranked, axis=1, out=work, mode="clip")  # ranked is valid
    return work
