"""The M.A.S.S. analytics pipeline: sources, bus, detectors, alerts and storage.

Nothing in this package imports Textual: headless runs, workers and benchmarks use it as it is,
and the console sits on top of its public face (:class:`pipeline.runtime.Pipeline`).
"""
