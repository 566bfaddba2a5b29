"""The layout the project keeps: ``pipeline`` knows nothing of Textual, and the command line
reads its settings (and prints its help) without loading the analytics or the network."""

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


HEAVY = ("numpy", "httpx", "textual", "confluent_kafka", "polars", "apprise", "pipeline.runtime")
RUN_THEN_LIST_HEAVY = """
import contextlib, io, sys
from mass_tui.cli import main
with contextlib.redirect_stdout(io.StringIO()):
    try:
        status = main({argv!r})
    except SystemExit as exit:
        status = exit.code
print(status, sorted(m for m in {heavy!r} if m in sys.modules))
"""


def test_help_builds_every_subcommand_without_loading_the_analytics_or_the_network():
    code = RUN_THEN_LIST_HEAVY.format(argv=["--help"], heavy=HEAVY)
    assert loaded_after(code) == "0 []"


def test_config_path_reads_the_settings_without_loading_the_analytics_or_the_network(tmp_path):
    argv = ["config", "path", "--data-dir", str(tmp_path)]
    assert loaded_after(RUN_THEN_LIST_HEAVY.format(argv=argv, heavy=HEAVY)) == "0 []"
