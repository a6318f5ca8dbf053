"""The SQLite backend's schema and its write path, run on the writer thread (see sqlite.py for the design).

`apply_batch` runs one transaction over a batch of operations and returns one `Outcome` per operation.
Each operation reads the key's newest row and checks its precondition before inserting, so a failed
check raises before anything is written and the batch goes on. Should SQLite itself roll the whole
transaction back (disk full, I/O error), every operation of the batch fails, including ones that had
already succeeded inside it.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any, Literal

from kybernetes.storage.protocol import (
    ConflictError,
    Event,
    EventType,
    FutureRevisionError,
    KeyExistsError,
    KeyNotFoundError,
    KeyValue,
    StorageError,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS kv (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    name TEXT NOT NULL,
    created INTEGER NOT NULL,
    deleted INTEGER NOT NULL,
    create_revision INTEGER NOT NULL,
    prev_revision INTEGER NOT NULL,
    value BLOB NOT NULL,
    old_value BLOB
);
CREATE UNIQUE INDEX IF NOT EXISTS kv_name_prev_revision ON kv (name, prev_revision);
CREATE INDEX IF NOT EXISTS kv_name_id ON kv (name, id);
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
"""

_INSERT = (
    "INSERT INTO kv (id, name, created, deleted, create_revision, prev_revision, value, old_value) "
    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
)
_LATEST = "SELECT id, deleted, create_revision, value FROM kv WHERE name = ? ORDER BY id DESC LIMIT 1"
# Per key, drop every row at or below C except the newest one at or below C, and that one if it is a delete.
_COMPACT = (
    "DELETE FROM kv WHERE id <= :c AND (deleted = 1 OR id < "
    "(SELECT MAX(newer.id) FROM kv AS newer WHERE newer.name = kv.name AND newer.id <= :c))"
)


@dataclass(frozen=True, slots=True)
class Operation:
    kind: Literal["create", "update", "delete", "compact"]
    key: str
    value: bytes = b""
    expected_revision: int | None = None  # for "compact": the revision to compact at


@dataclass(frozen=True, slots=True)
class Outcome:
    result: Any = None
    error: BaseException | None = None
    event: Event | None = None


def prefix_range(prefix: str) -> tuple[str, str | None]:
    """[low, high) of the keys starting with `prefix`, in SQLite's (UTF-8 byte = code point) order;
    high is None when there is no upper bound."""
    while prefix:
        last = ord(prefix[-1])
        if last < 0x10FFFF:
            following = last + 1 if not 0xD800 <= last + 1 <= 0xDFFF else 0xE000
            return prefix, prefix[:-1] + chr(following)
        prefix = prefix[:-1]
    return "", None


def event_from_row(row: tuple[Any, ...]) -> Event:
    """A history row (id, name, created, deleted, create_revision, prev_revision, value, old_value)."""
    revision, key, created, deleted, create_revision, prev_revision, value, old_value = row
    if created:
        return Event(type=EventType.CREATE, kv=KeyValue(key, value, revision, revision))
    if deleted:
        prev = KeyValue(key, value, create_revision, prev_revision)
        return Event(type=EventType.DELETE, kv=KeyValue(key, value, create_revision, revision), prev=prev)
    prev = KeyValue(key, old_value, create_revision, prev_revision)
    return Event(type=EventType.UPDATE, kv=KeyValue(key, value, create_revision, revision), prev=prev)


def apply_batch(
    connection: sqlite3.Connection, *, ops: list[Operation], revision: int, compacted: int
) -> tuple[list[Outcome], int, int]:
    """Run `ops` in one transaction; returns the outcomes and the new (revision, compacted revision)."""
    start_revision, start_compacted = revision, compacted
    outcomes: list[Outcome] = []
    try:
        connection.execute("BEGIN IMMEDIATE")
        for op in ops:
            try:
                if op.kind == "compact":
                    assert op.expected_revision is not None
                    compacted = _compact(
                        connection, at=op.expected_revision, revision=revision, compacted=compacted
                    )
                    outcomes.append(Outcome())
                    continue
                event = _write(connection, op=op, revision=revision + 1)
                revision += 1
                outcomes.append(Outcome(result=event.kv, event=event))
            except (StorageError, sqlite3.IntegrityError) as error:
                if isinstance(error, sqlite3.IntegrityError):  # another process wrote this key: a lost CAS
                    error = ConflictError(op.key, _latest(connection, op.key))
                outcomes.append(Outcome(error=error))
            if not connection.in_transaction:
                raise StorageError("SQLite rolled the transaction back")
        connection.execute("COMMIT")
    except (sqlite3.Error, StorageError) as error:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        failure = error if isinstance(error, StorageError) else StorageError(f"SQLite error: {error}")
        return [Outcome(error=failure) for _ in ops], start_revision, start_compacted
    return outcomes, revision, compacted


def _latest(connection: sqlite3.Connection, key: str) -> KeyValue | None:
    row = connection.execute(_LATEST, (key,)).fetchone()
    if row is None or row[1]:
        return None
    return KeyValue(key=key, value=row[3], create_revision=row[2], mod_revision=row[0])


def _write(connection: sqlite3.Connection, *, op: Operation, revision: int) -> Event:
    key = op.key
    row = connection.execute(_LATEST, (key,)).fetchone()
    exists = row is not None and not row[1]
    if op.kind == "create":
        if exists:
            raise KeyExistsError(key)
        prev_revision = row[0] if row is not None else 0
        connection.execute(_INSERT, (revision, key, 1, 0, revision, prev_revision, op.value, None))
        return Event(type=EventType.CREATE, kv=KeyValue(key, op.value, revision, revision))
    if not exists:
        raise KeyNotFoundError(key)
    prev = KeyValue(key=key, value=row[3], create_revision=row[2], mod_revision=row[0])
    if op.expected_revision is not None and prev.mod_revision != op.expected_revision:
        raise ConflictError(key, prev)
    if op.kind == "update":
        connection.execute(
            _INSERT, (revision, key, 0, 0, prev.create_revision, prev.mod_revision, op.value, prev.value)
        )
        kv = KeyValue(key, op.value, prev.create_revision, revision)
        return Event(type=EventType.UPDATE, kv=kv, prev=prev)
    connection.execute(
        _INSERT, (revision, key, 0, 1, prev.create_revision, prev.mod_revision, prev.value, None)
    )
    return Event(
        type=EventType.DELETE, kv=KeyValue(key, prev.value, prev.create_revision, revision), prev=prev
    )


def _compact(connection: sqlite3.Connection, *, at: int, revision: int, compacted: int) -> int:
    if at <= compacted:
        return compacted
    if at > revision:
        raise FutureRevisionError(at, revision)
    connection.execute(_COMPACT, {"c": at})
    connection.execute(
        "INSERT INTO meta (key, value) VALUES ('compact_revision', ?) "
        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        (at,),
    )
    return at
