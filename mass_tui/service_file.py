"""How a console finds the service running on its data directory.

The service holds ``service.lock`` in the data directory (an exclusive ``flock``: released by
the kernel however the service ends) and writes ``service.json`` beside it: its pid, its URL
and its local token, readable by its user only. A console that finds the lock held attaches to
that URL; a ``service.json`` whose lock is not held is what a killed service left, and ignored.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import msgspec

from mass_tui.settings_layers import ConfigError
from pipeline.exclusive import ExclusiveLock, LockHeld

LOCK_NAME = "service.lock"
FILE_NAME = "service.json"


class ServiceInfo(msgspec.Struct):
    pid: int
    url: str
    token: str


def hold_data_dir(data_dir: Path) -> ExclusiveLock:
    """The data directory, for one pipeline (the service, ``headless``, ``worker``, an
    embedded console): two pipelines on one directory would both notify people, even with
    storage off. A held directory or one that cannot be used is a ConfigError (exit 2)
    naming the holder."""
    try:
        return ExclusiveLock(data_dir / LOCK_NAME, "the data directory")
    except LockHeld as held:
        raise ConfigError(f"{held}; stop it first, or give this one its own --data-dir") from None
    except OSError as exc:
        raise ConfigError(f"cannot use the data directory {data_dir}: {exc}") from None


@contextmanager
def data_dir_held(data_dir: Path) -> Iterator[None]:
    """:func:`hold_data_dir` while inside."""
    lock = hold_data_dir(data_dir)
    try:
        yield
    finally:
        lock.release()


@dataclass
class ServiceRegistration:
    """The running service's lock and file, removed when it stops."""

    lock: ExclusiveLock
    path: Path

    @classmethod
    def take(cls, data_dir: Path) -> ServiceRegistration:
        """Raises ConfigError naming the process holding the directory (see
        :func:`hold_data_dir`)."""
        return cls(hold_data_dir(data_dir), data_dir / FILE_NAME)

    def publish(self, info: ServiceInfo) -> None:
        temporary = self.path.with_suffix(".tmp")
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(msgspec.json.encode(info))
        temporary.replace(self.path)

    def withdraw(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()
        self.lock.release()


def running_service(data_dir: Path) -> ServiceInfo | None:
    """The service running on ``data_dir``, or None (none, or it left no readable file)."""
    lock_path = data_dir / LOCK_NAME
    try:
        with lock_path.open("rb") as handle:
            try:
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                pass  # held: a service runs
            else:
                return None
    except OSError:
        return None
    try:
        return msgspec.json.decode((data_dir / FILE_NAME).read_bytes(), type=ServiceInfo)
    except (OSError, msgspec.DecodeError):
        return None
