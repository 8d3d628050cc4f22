"""Set-based writes of the pipeline: raw records in bulk, quotes upserted one batch at a time.

Quotes on PostgreSQL: COPY the batch into a temporary staging table, then one
INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE the content hash differs,
which counts what it inserted and updated: PostgreSQL's own fastest path, and an
unchanged row is never rewritten. Elsewhere (the embedded SQLite): one read of the
stored hashes, then one multi-row upsert of only the new and changed rows.
"""

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection
from django.utils import timezone

from coins.models import Quote
from core.hashing import short_hash
from etl.models import RawRecord
from etl.pipeline.records import VALUE_FIELDS, QuoteRecord, RawItem

_TABLE = Quote._meta.db_table
_KEY = ("coin_id", "source", "as_of")
_COLUMNS = (*_KEY, *VALUE_FIELDS, "run_id", "content_hash", "created_at", "updated_at")
# Rows per multi-row statement: SQLite takes at most 32,766 parameters, and a quote row has 15.
STATEMENT_ROWS = 2000
_UPDATED = (*VALUE_FIELDS, "run_id", "content_hash", "updated_at")
# A row whose content did not change is left as it is: not rewritten, not counted as written.
_ON_CONFLICT = (
    f"ON CONFLICT ({', '.join(_KEY)}) DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in _UPDATED)} "
    f"WHERE {_TABLE}.content_hash <> excluded.content_hash"
)


@dataclass(frozen=True, slots=True)
class UpsertResult:
    inserted: int
    updated: int
    unchanged: int


def commit_without_flush_wait() -> None:
    """Let the current transaction commit without waiting for its WAL to reach the disk.

    A database crash can lose the last such commits (under a second's worth),
    but never reorder them: WAL is replayed in order, so a checkpoint, committed
    after its rows, is never kept without them, and the next run redoes what was
    lost. Each batch's commit then costs no disk flush.
    """
    if connection.vendor == "postgresql" and connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL synchronous_commit TO OFF")


def quotes_upsert(*, rows: Sequence[tuple[int, QuoteRecord]], run_id: int, now: datetime) -> UpsertResult:
    """Write (coin_id, record) pairs whose key is unique within the batch; report what changed."""
    if not rows:
        return UpsertResult(0, 0, 0)
    if connection.vendor == "postgresql":
        return _upsert_through_stage(rows, run_id=run_id, now=now)
    results = [
        _upsert_by_statement(rows[start : start + STATEMENT_ROWS], run_id=run_id, now=now)
        for start in range(0, len(rows), STATEMENT_ROWS)
    ]
    return UpsertResult(
        inserted=sum(r.inserted for r in results),
        updated=sum(r.updated for r in results),
        unchanged=sum(r.unchanged for r in results),
    )


def _upsert_by_statement(rows: Sequence[tuple[int, QuoteRecord]], *, run_id: int, now: datetime) -> UpsertResult:
    keyed = {(coin_id, r.source, _datetime_param(r.as_of)): (coin_id, r, r.content_hash) for coin_id, r in rows}
    existing = _existing_hashes(list(keyed))
    to_write = [v for k, v in keyed.items() if existing.get(k) != v[2]]
    inserted = sum(1 for k in keyed if k not in existing)
    updated = len(to_write) - inserted
    if to_write:
        _insert_or_update(to_write, run_id=run_id, now=_datetime_param(now))
    return UpsertResult(inserted=inserted, updated=updated, unchanged=len(keyed) - len(to_write))


_STAGE = "kasparro_quote_stage"
_STAGED = (*_KEY, *VALUE_FIELDS, "content_hash")


def _upsert_through_stage(rows: Sequence[tuple[int, QuoteRecord]], *, run_id: int, now: datetime) -> UpsertResult:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for coin_id, record in rows:
        writer.writerow(
            (
                coin_id,
                record.source,
                record.as_of.isoformat(),
                *(getattr(record, f) for f in VALUE_FIELDS),
                record.content_hash,
            )
        )
    buffer.seek(0)
    columns = ", ".join(_STAGED)
    with connection.cursor() as cursor:
        # Per connection, emptied at every commit: each batch sees only its own rows.
        cursor.execute(
            f"CREATE TEMPORARY TABLE IF NOT EXISTS {_STAGE} ON COMMIT DELETE ROWS AS "
            f"SELECT {columns} FROM {_TABLE} WITH NO DATA"
        )
        cursor.execute(f"DELETE FROM {_STAGE}")  # cheaper than TRUNCATE for a few thousand rows
        cursor.cursor.copy_expert(f"COPY {_STAGE} ({columns}) FROM STDIN WITH (FORMAT csv)", buffer)
        cursor.execute(
            f"WITH written AS ("
            f" INSERT INTO {_TABLE} ({columns}, run_id, created_at, updated_at)"
            f" SELECT {columns}, %s, %s, %s FROM {_STAGE} {_ON_CONFLICT}"
            # xmax is 0 on a row this statement inserted, set on one it updated.
            f" RETURNING xmax = 0 AS inserted"
            f") SELECT count(*) FILTER (WHERE inserted), count(*) FROM written",
            [run_id, now, now],
        )
        inserted, written = cursor.fetchone()
    return UpsertResult(inserted=inserted, updated=written - inserted, unchanged=len(rows) - written)


def _datetime_param(value: datetime):
    """A datetime as the backend stores it, without Django's per-value machinery (SQLite: naive UTC text)."""
    if connection.vendor == "postgresql":
        return value
    return str(value.astimezone(UTC).replace(tzinfo=None))


def _existing_hashes(keys: list[tuple]) -> dict[tuple, str]:
    placeholders = ",".join(["(%s,%s,%s)"] * len(keys))
    sql = (
        f"SELECT coin_id, source, as_of, content_hash FROM {_TABLE} "
        f"WHERE (coin_id, source, as_of) IN (VALUES {placeholders})"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for key in keys for value in key])
        fetched = cursor.fetchall()
    # SQLite hands back naive UTC datetimes; PostgreSQL aware ones.
    return {
        (coin_id, source, _datetime_param(moment if moment.tzinfo else moment.replace(tzinfo=UTC))): digest
        for coin_id, source, moment, digest in fetched
    }


def _insert_or_update(rows: list[tuple[int, QuoteRecord, str]], *, run_id: int, now) -> None:
    values = []
    for coin_id, record, digest in rows:
        values.extend((coin_id, record.source, _datetime_param(record.as_of)))
        values.extend(getattr(record, f) for f in VALUE_FIELDS)
        values.extend((run_id, digest, now, now))
    row = "(" + ",".join(["%s"] * len(_COLUMNS)) + ")"
    sql = f"INSERT INTO {_TABLE} ({', '.join(_COLUMNS)}) VALUES {','.join([row] * len(rows))} {_ON_CONFLICT}"
    with connection.cursor() as cursor:
        cursor.execute(sql, values)


_RAW_TABLE = RawRecord._meta.db_table
_RAW_COLUMNS = ("run_id", "source", "source_key", "position", "payload", "content_hash", "created_at")


def raw_records_insert(*, run_id: int, source: str, items: Sequence[RawItem]) -> None:
    """Stage a batch of raw items: COPY on PostgreSQL, one executemany elsewhere."""
    now = _datetime_param(timezone.now())
    rows = [
        (run_id, source, item.source_key, item.position, item.payload, short_hash(item.payload), now) for item in items
    ]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            buffer = io.StringIO()
            csv.writer(buffer).writerows(rows)
            buffer.seek(0)
            # An empty key (an item without an id) is "", not NULL: quarantined by the load, not failing the COPY.
            columns = ", ".join(_RAW_COLUMNS)
            copy = f"COPY {_RAW_TABLE} ({columns}) FROM STDIN WITH (FORMAT csv, FORCE_NOT_NULL (source_key))"
            cursor.cursor.copy_expert(copy, buffer)
        else:
            placeholders = ", ".join(["%s"] * len(_RAW_COLUMNS))
            cursor.executemany(f"INSERT INTO {_RAW_TABLE} ({', '.join(_RAW_COLUMNS)}) VALUES ({placeholders})", rows)
