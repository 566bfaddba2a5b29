"""The parts of :mod:`pipeline.simulator`: counter-based noise, station climates, the event
schedule and the weather model. Code outside the simulator uses :mod:`pipeline.simulator`.
"""
