"""The station simulator: :mod:`pipeline.simulation.station_simulator` (what code outside uses)
and its parts, counter-based noise, station climates, the event schedule and the weather model.
The live source that paces it by the pipeline's clock is :mod:`pipeline.sources.simulated`.
"""
