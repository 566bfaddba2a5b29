"""The layout the project keeps: ``pipeline`` knows nothing of Textual, and the command line
reads its settings without loading the analytics."""

from __future__ import annotations

import subprocess
import sys

IMPORT_EVERY_PIPELINE_MODULE = """
import importlib, pkgutil, sys
import pipeline
for module in pkgutil.walk_packages(pipeline.__path__, "pipeline."):
    importlib.import_module(module.name)
ours = ("textual", "mass_tui", "widgets", "themes")
print(len(sys.modules), sorted(m for m in sys.modules if m.split(".")[0] in ours))
"""


def loaded_after(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    return done.stdout.strip()


def test_importing_every_pipeline_module_loads_no_textual_and_no_app_module():
    assert loaded_after(IMPORT_EVERY_PIPELINE_MODULE).endswith(" []")
