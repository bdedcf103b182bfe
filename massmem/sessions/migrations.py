"""The registry's schema, written as ordered migrations.

Each migration takes the database one version further; the registry applies the ones a
file has not seen yet inside one write transaction and records the version reached in
``PRAGMA user_version``.  Append only: a released migration is never edited, because
registries already upgraded by it would not run it again.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence

__all__ = ["MIGRATIONS"]


def _migration_1(db: sqlite3.Connection) -> None:
    db.execute(
        """
        CREATE TABLE sessions (
            id          TEXT PRIMARY KEY,
            status      TEXT NOT NULL,
            created_at  REAL NOT NULL,
            updated_at  REAL NOT NULL,
            config_path TEXT,
            models      TEXT NOT NULL DEFAULT '[]',
            question    TEXT,
            description TEXT,
            turns       INTEGER NOT NULL DEFAULT 0,
            error       TEXT
        )
        """
    )
    db.execute("CREATE INDEX sessions_created ON sessions(created_at DESC)")


def _migration_2(db: sqlite3.Connection) -> None:
    """What a session list shows without opening state files: the last answer, its author, the config."""
    db.execute("ALTER TABLE sessions ADD COLUMN last_answer TEXT")
    db.execute("ALTER TABLE sessions ADD COLUMN winner TEXT")
    db.execute("ALTER TABLE sessions ADD COLUMN config_hash TEXT")


def _migration_3(db: sqlite3.Connection) -> None:
    """The process using an active session (pid and start time), so a killed one can be told apart."""
    db.execute("ALTER TABLE sessions ADD COLUMN owner_pid INTEGER")
    db.execute("ALTER TABLE sessions ADD COLUMN owner_start TEXT")


#: Ordered migrations; index + 1 is the schema version each one produces.  Append only.
MIGRATIONS: Sequence[Callable[[sqlite3.Connection], None]] = (_migration_1, _migration_2, _migration_3)
