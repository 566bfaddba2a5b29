"""The detectors, by name and by their row on the detector axis of statistics, levels and
scores (:mod:`pipeline.detectors.layout` keeps the numbers behind them).

The axis is derived from a catalogue's :class:`~pipeline.threshold_catalogue.Detector`
entries, in their order: :data:`AXIS` from the application's, and :func:`axis_of` from one
extended with detectors of its own. The constants below are the rows of the detectors the
statistical core computes (:func:`pipeline.detectors.statistics.advance` writes them by
row): every catalogue keeps those where the application's has them, and its other detectors
come from batch statistics (:mod:`pipeline.detectors.batch`) or stepped ones
(:mod:`pipeline.detectors.stepped`).

Kept apart from the detectors package and free of numpy, so that what only needs the names
(the command line's help, settings) does not load the arrays: the package's ``__init__``
imports the bank.
"""

from __future__ import annotations

from dataclasses import dataclass

from pipeline.threshold_catalogue import CATALOGUE, CORE, Catalogue


@dataclass(frozen=True, slots=True)
class DetectorAxis:
    """The rows of one catalogue's detectors, by what the bank does with them."""

    names: tuple[str, ...]
    calibrated: tuple[int, ...]  # alarms gated on the calibration (the first rows, in order)
    rules: tuple[int, ...]  # severity levels; the statistic is the anomaly's quantity
    every: tuple[int, ...]  # not edge-triggered: every reading past the threshold
    batch: tuple[int, ...]  # computed for the whole batch before the rounds
    stepped: tuple[int, ...]  # stepped in the rounds after the core
    sources: tuple[str, ...]  # per row: CORE or the "module:factory" of its statistic

    @classmethod
    def of(cls, catalogue: Catalogue) -> DetectorAxis:
        detectors = catalogue.detectors

        def rows(kind: str) -> tuple[int, ...]:
            return tuple(d for d, entry in enumerate(detectors) if entry.kind == kind)

        return cls(
            names=catalogue.names,
            calibrated=rows("calibrated"),
            rules=rows("rule"),
            every=rows("every"),
            batch=tuple(
                d for d, entry in enumerate(detectors) if entry.source != CORE and not entry.stepped
            ),
            stepped=tuple(d for d, entry in enumerate(detectors) if entry.stepped),
            sources=tuple(entry.source for entry in detectors),
        )

    @property
    def spacing(self) -> int:
        """The row of the statistics after the detectors': each reading's spacing (the gap's
        quantity)."""
        return len(self.names)

    def row(self, name: str) -> int:
        return self.names.index(name)

    def stepped_rows(self) -> dict[str, slice]:
        """Each stepped source's rows (consecutive, see :func:`axis_of`), in catalogue order."""
        rows: dict[str, list[int]] = {}
        for d in self.stepped:
            rows.setdefault(self.sources[d], []).append(d)
        return {source: slice(d[0], d[-1] + 1) for source, d in rows.items()}


AXIS = DetectorAxis.of(CATALOGUE)
DETECTORS = AXIS.names
ZSCORE, EWMA, CUSUM, STUCK, GAP = (AXIS.row(n) for n in ("zscore", "ewma", "cusum", "stuck", "gap"))
CALIBRATED = AXIS.calibrated  # the first rows of the detector axis, in this order
STATISTICAL = tuple(DETECTORS[d] for d in CALIBRATED)  # their names: the statistical detectors
RULE_NAMES = tuple(DETECTORS[d] for d in AXIS.rules)
CORE_ROWS = tuple(d for d, source in enumerate(AXIS.sources) if source == CORE)


def axis_of(catalogue: Catalogue) -> DetectorAxis:
    """The axis of ``catalogue``, which must keep the core's detectors at their rows and
    compute every other one from a batch statistic; ValueError saying what it does not."""
    axis = DetectorAxis.of(catalogue)
    core = tuple(d for d, source in enumerate(axis.sources) if source == CORE)
    if [axis.names[d] for d in core] != [DETECTORS[d] for d in CORE_ROWS] or core != CORE_ROWS:
        raise ValueError(
            "the statistical core computes "
            + ", ".join(f"{DETECTORS[d]} (row {d})" for d in CORE_ROWS)
            + "; any other detector names the statistic computing it (its source)"
        )
    for source, rows in axis.stepped_rows().items():
        if rows.stop - rows.start != axis.sources.count(source):
            raise ValueError(f"the detectors stepped by {source} must be consecutive entries")
    if axis.calibrated != CALIBRATED or axis.every != AXIS.every:
        raise ValueError("only the core's detectors are calibrated or report every reading")
    return axis
