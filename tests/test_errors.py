"""One error base: every failure the program expects derives from :class:`MassError`, so the
command line's top level can promise one line and exit status 2 instead of a traceback."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import mass_tui
import pipeline
import themes
import widgets
from pipeline.bus import BusClosed
from pipeline.errors import MassError

NOT_FAILURES = {BusClosed}  # a signal to a waiting caller that the bus shut down


def exceptions_defined_in_the_project() -> list[type[BaseException]]:
    found = []
    for package in (pipeline, mass_tui, widgets, themes):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if info.name.endswith(".__main__"):
                continue  # running it is what it does
            module = importlib.import_module(info.name)
            found += [
                cls
                for _, cls in inspect.getmembers(module, inspect.isclass)
                if issubclass(cls, BaseException) and cls.__module__ == module.__name__
            ]
    return found


def test_every_exception_class_of_the_project_derives_from_mass_error():
    defined = exceptions_defined_in_the_project()
    assert len(defined) > 10  # the walk found the modules (StoreError, ConfigError, ...)
    others = [cls for cls in defined if cls not in NOT_FAILURES and not issubclass(cls, MassError)]
    assert [f"{cls.__module__}.{cls.__qualname__}" for cls in others] == []
