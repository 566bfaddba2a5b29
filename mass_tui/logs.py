"""Logging to a rotating file under the data directory's ``logs/``, never to the terminal UI.

The log is private: its files are opened mode 0600 whatever the umask, and rotated ones keep
it (they quote receivers' errors and, at DEBUG, request details). Credentials are taken out of
every record before it is written, whichever logger wrote it
(:class:`~pipeline.sources.http_client.RedactingFilter` on the handler); httpx and httpcore are
kept at WARNING besides, since their INFO and DEBUG lines are made of URLs and headers (the
webhook URL, whose path is a chat tool's secret; a redirect's ``Location`` with an API key).

A log file that cannot be written (a full disk, a removed directory) says so once on stderr,
in one line, and counts the records it loses, rather than a traceback for every record.
"""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import stat
import sys
from collections.abc import Iterable, Sequence
from io import TextIOWrapper
from pathlib import Path

from mass_tui.settings_layers import LoggingSettings
from pipeline.sources.http_client import RedactingFilter

FORMAT = "%(asctime)s %(levelname)s %(threadName)s %(name)s: %(message)s"
FILE_MODE = 0o600
CHATTY_LIBRARIES = ("httpx", "httpcore")

log = logging.getLogger(__name__)


class PrivateLogFile(logging.handlers.RotatingFileHandler):
    """A rotating log file, mode 0600, that reports its own failures in one line."""

    def __init__(self, path: Path | str, max_bytes: int, backups: int) -> None:
        self.lost = 0
        """Records that could not be written."""
        super().__init__(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")

    def _open(self) -> TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_CREAT | os.O_APPEND, FILE_MODE)
        try:
            if stat.S_ISREG(os.fstat(fd).st_mode):  # the mode given above is under the umask
                os.fchmod(fd, FILE_MODE)
            return open(fd, "a", encoding=self.encoding, errors=self.errors)
        except BaseException:
            os.close(fd)
            raise

    def handleError(self, record: logging.LogRecord) -> None:
        """Count the lost record; say so on stderr the first time only. After a failed write
        the stream is dropped (and reopened for the next record), so what it could not write
        does not pile up in its buffer."""
        self.lost += 1
        error = sys.exc_info()[1]
        if isinstance(error, OSError) and self.stream is not None:
            stream, self.stream = self.stream, None
            with contextlib.suppress(OSError):  # what it held is lost, and counted
                stream.close()
        if self.lost > 1:
            return
        if isinstance(error, OSError) and error.strerror:
            reason = error.strerror
        else:
            reason = f"{type(error).__name__}: {error}"
        with contextlib.suppress(OSError, ValueError):  # no stderr either: nothing to tell
            print(
                f"mass-tui: logging to {self.baseFilename} failed: {reason} "
                "(further log errors are counted)",
                file=sys.stderr,
            )


def setup_logging(
    data_dir: Path,
    settings: LoggingSettings,
    name: str,
    *,
    secrets: Sequence[str] = (),
    secret_urls: Sequence[str] = (),
    to_stderr: bool = False,
) -> Path | None:
    """Log to ``data_dir/logs/<name>.log``; returns its path, or None if it cannot be written
    (then warnings go to stderr, which is what a headless run has). ``secrets`` (API keys,
    tokens, passwords) and the path and query of ``secret_urls`` never reach a log line.
    ``to_stderr``: every line to stderr as well, without a time stamp (journald adds one)."""
    root = logging.getLogger()
    root.setLevel(settings.level)
    for old in list(root.handlers):
        root.removeHandler(old)
    for library in CHATTY_LIBRARIES:
        logging.getLogger(library).setLevel(logging.WARNING)
    log_file = data_dir / "logs" / f"{name}.log"
    path: Path | None = log_file
    try:
        log_file.parent.mkdir(parents=True, exist_ok=True)
        handler: logging.Handler = PrivateLogFile(log_file, settings.max_bytes, settings.backups)
    except OSError as exc:
        print(f"mass-tui: cannot write log file {log_file}: {exc.strerror}", file=sys.stderr)
        handler = logging.StreamHandler(sys.stderr)
        handler.setLevel(logging.WARNING)
        path = None
    handler.addFilter(RedactingFilter(secrets, secret_urls))
    handler.setFormatter(logging.Formatter(FORMAT))
    root.addHandler(handler)
    if to_stderr and path is not None:
        echo = logging.StreamHandler(sys.stderr)
        echo.addFilter(RedactingFilter(secrets, secret_urls))
        echo.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        root.addHandler(echo)
    if path is not None:
        _make_private(path.parent.glob(f"{path.name}.*"))
    return path


def _make_private(rotated: Iterable[Path]) -> None:
    """Files rotated before logs were private (0644) become so too."""
    for old in rotated:
        try:
            if old.is_file() and not old.is_symlink():
                old.chmod(FILE_MODE)
        except OSError as exc:  # not ours to change; the new files are private anyway
            log.warning("cannot make %s private: %s", old, exc.strerror)
