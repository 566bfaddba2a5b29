"""mass-tui: the M.A.S.S. console (Meteorological Analytics Streaming System)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mass-tui")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0+source"
