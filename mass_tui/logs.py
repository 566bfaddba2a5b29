"""Logging to a rotating file under the data directory's ``logs/``, never to the terminal UI."""

from __future__ import annotations

import logging
import logging.handlers
import sys
from pathlib import Path

from mass_tui.config import LoggingSettings

FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"


def setup_logging(data_dir: Path, settings: LoggingSettings, name: str) -> Path | None:
    """Log to ``data_dir/logs/<name>.log``; returns its path, or None if it cannot be written
    (then warnings go to stderr, which is what a headless run has)."""
    root = logging.getLogger()
    root.setLevel(settings.level)
    for handler in list(root.handlers):
        root.removeHandler(handler)
    path = data_dir / "logs" / f"{name}.log"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = logging.handlers.RotatingFileHandler(
            path, maxBytes=int(settings.max_bytes), backupCount=settings.backups, encoding="utf-8"
        )
    except OSError as exc:
        print(f"mass-tui: cannot write log file {path}: {exc.strerror}", file=sys.stderr)
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
        path = None
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    return path
