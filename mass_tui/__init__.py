"""mass-tui: the M.A.S.S. console (Meteorological Analytics Streaming System)."""


def __getattr__(name: str) -> str:
    """``__version__``, read from the installed package's metadata when asked (for
    ``--version``): importlib.metadata costs start-up time every other command would pay."""
    if name != "__version__":
        raise AttributeError(name)
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mass-tui")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "0.0.0+source"
