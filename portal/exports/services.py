"""Exports: request (a row + a django-q2 task), write (streamed, progress on the row), expire.

CSV on PostgreSQL is PostgreSQL's own `COPY (...) TO STDOUT` piped to the file chunk by chunk;
XLSX is openpyxl's write-only workbook fed from a server-side cursor. Neither holds the rows in
memory: a million-row export runs in flat memory (benchmarks/export.py measures it).
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
import os
from collections.abc import Iterable
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone, translation
from django_q.tasks import async_task

from portal.exports import queries
from portal.exports.models import Export
from portal.tenants.models import Customer

log = logging.getLogger(__name__)

XLSX_MAX_ROWS = 1_048_575  # a sheet's rows, less the header


def exports_dir() -> Path:
    path = Path(getattr(settings, "EXPORTS_DIR", Path(settings.MEDIA_ROOT) / "exports"))
    path.mkdir(parents=True, exist_ok=True)
    return path


def progress_every() -> int:
    """Rows between two progress updates on the export's row."""
    return int(getattr(settings, "EXPORT_PROGRESS_EVERY", 50_000))


def keep_days() -> int:
    return int(getattr(settings, "EXPORT_KEEP_DAYS", 7))


def export_path(export: Export) -> Path:
    return exports_dir() / f"{export.token}.{export.format}"


def export_request(
    *,
    customer: Customer | None,
    user,
    kind: str,
    format: str,
    filters: queries.Filters,
) -> Export:
    """Record an export and queue its task (after commit). `customer` None: a platform export."""
    export = Export.objects.create(
        customer=customer,
        requested_by=user if getattr(user, "pk", None) else None,
        kind=kind,
        format=format,
        filters=filters.to_json(),
    )
    language = translation.get_language() or settings.LANGUAGE_CODE
    transaction.on_commit(
        lambda: async_task("portal.exports.services.export_run", export.pk, language)
    )
    return export


def export_run(export_id: int, language: str = "ru") -> str:
    """The task: claim the export (compare-and-swap), write the file, mark it done or failed."""
    claimed = Export.objects.filter(pk=export_id, status=Export.Status.QUEUED).update(
        status=Export.Status.RUNNING
    )
    if not claimed:
        return "not queued"
    export = Export.objects.select_related("customer").get(pk=export_id)
    path = export_path(export)
    try:
        with translation.override(language):
            rows = write_export(export, path)
    except Exception as exc:
        log.exception("export %s failed", export_id)
        path.unlink(missing_ok=True)
        Export.objects.filter(pk=export_id).update(
            status=Export.Status.FAILED, error=str(exc)[:255], finished_at=timezone.now()
        )
        return "failed"
    now = timezone.now()
    Export.objects.filter(pk=export_id).update(
        status=Export.Status.DONE,
        rows_total=rows,
        rows_done=rows,
        size_bytes=path.stat().st_size,
        file_name=download_name(export),
        finished_at=now,
        expires_at=now + dt.timedelta(days=keep_days()),
    )
    return "done"


def download_name(export: Export) -> str:
    f = export.filters
    who = f"c{export.customer_id}" if export.customer_id else "platform"
    return f"{export.kind}-{who}-{f['date_from']}-{f['date_to']}.{export.format}"


def _progress(export_id: int, done: int) -> None:
    Export.objects.filter(pk=export_id).update(rows_done=done)


def write_export(export: Export, path: Path) -> int:
    """Write the export's file; returns the number of data rows."""
    filters = queries.Filters.from_json(export.filters)
    customer = export.customer
    header = queries.header(export.kind, platform=customer is None)
    tmp = path.with_suffix(path.suffix + ".part")
    total = count_rows(export.kind, customer, filters)
    Export.objects.filter(pk=export.pk).update(rows_total=total)
    try:
        if export.format == Export.Format.CSV:
            rows = _write_csv(export, tmp, header, customer, filters)
        else:
            rows = _write_xlsx(export, tmp, header, customer, filters)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return rows


def count_rows(kind: str, customer: Customer | None, filters: queries.Filters) -> int:
    if queries.use_sql(kind):
        sql, params = queries.SQL[kind](customer, filters, count=True)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchone()[0]
    return sum(1 for _row in queries.ROWS[kind](customer, filters))


def _write_csv(export, tmp: Path, header, customer, filters) -> int:
    if queries.use_sql(export.kind):
        with open(tmp, "wb") as out:
            first = io.StringIO(newline="")
            first.write("\ufeff")  # Excel opens UTF-8 CSV as such only with a BOM
            csv.writer(first).writerow(header)
            out.write(first.getvalue().encode("utf-8"))
            return _copy_csv(export, out, customer, filters)
    with open(tmp, "w", encoding="utf-8", newline="") as out:
        out.write("\ufeff")
        writer = csv.writer(out)
        writer.writerow(header)
        rows, every = 0, progress_every()
        for row in queries.ROWS[export.kind](customer, filters):
            writer.writerow(["" if value is None else value for value in row])
            rows += 1
            if rows % every == 0:
                _progress(export.pk, rows)
        return rows


class _Progress:
    """Progress updates that other processes see while the export's own connection is busy (a
    COPY) or inside its transaction: on PostgreSQL through a second, short-lived connection."""

    def __init__(self, export_id: int) -> None:
        self.export_id = export_id
        self.side = None
        if connection.vendor == "postgresql":
            self.side = connection.get_new_connection(connection.get_connection_params())
            self.side.autocommit = True

    def __call__(self, rows: int) -> None:
        if self.side is None:
            _progress(self.export_id, rows)
        else:
            self.side.execute(
                "UPDATE exports_export SET rows_done = %s WHERE id = %s", (rows, self.export_id)
            )

    def close(self) -> None:
        if self.side is not None:
            self.side.close()


def _tune(cursor) -> None:
    """For the export's transaction: room to hash the scope's ledger entries and sort the rows
    in memory (a million calls: ~300 MB of PostgreSQL's memory, not ours), no JIT compilation,
    no parallel workers (on a small shared box they cost more than they bring: the leader
    merges every row again), timestamps printed as `YYYY-MM-DD HH:MM:SS`."""
    cursor.execute("SET LOCAL work_mem = '320MB'")
    cursor.execute("SET LOCAL jit = off")
    cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")
    cursor.execute("SET LOCAL DateStyle = 'ISO, YMD'")


def _copy_csv(export, out, customer, filters) -> int:
    """PostgreSQL writes the CSV itself (COPY ... TO STDOUT, all formatting in SQL); we only
    move its bytes to the file. COPY sends one message per row, so rows are counted by
    messages (a quoted value may hold a line break)."""
    if export.kind == "cdrs":
        sql, params = queries.cdrs_sql(customer, filters, text_times=True)
    else:
        sql, params = queries.SQL[export.kind](customer, filters)
    rows, every = 0, progress_every()
    next_report = every
    write = out.write
    progress = _Progress(export.pk)
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            _tune(cursor)
            raw = cursor.cursor  # psycopg's own cursor: COPY with client-side parameters
            with raw.copy(f"COPY ({sql}) TO STDOUT WITH (FORMAT csv)", params) as copy:
                for row in copy:
                    write(row)
                    rows += 1
                    if rows == next_report:
                        progress(rows)
                        next_report += every
    finally:
        progress.close()
    return rows


def _sql_rows(kind: str, customer, filters) -> Iterable[tuple]:
    sql, params = queries.SQL[kind](customer, filters)
    with transaction.atomic():
        with connection.cursor() as cursor:
            _tune(cursor)
        with connection.chunked_cursor() as cursor:  # a server-side cursor
            cursor.execute(sql, params)
            while batch := cursor.fetchmany(5000):
                yield from batch


def _write_xlsx(export, tmp: Path, header, customer, filters) -> int:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell

    book = Workbook(write_only=True)
    sheet = book.create_sheet(str(Export.Kind(export.kind).label)[:31])
    sheet.append(header)
    source = (
        _sql_rows(export.kind, customer, filters)
        if queries.use_sql(export.kind)
        else queries.ROWS[export.kind](customer, filters)
    )
    rows, every = 0, progress_every()
    progress = _Progress(export.pk)
    try:
        for row in source:
            if rows >= XLSX_MAX_ROWS:
                raise ValueError(
                    "more rows than one XLSX sheet holds: export CSV or a shorter period"
                )
            cells = []
            for value in row:
                if isinstance(value, Decimal):
                    cell = WriteOnlyCell(sheet, value=value)
                    cell.number_format = "0.00"
                    cells.append(cell)
                else:
                    cells.append(value)
            sheet.append(cells)
            rows += 1
            if rows % every == 0:
                progress(rows)
    finally:
        progress.close()
    book.save(tmp)
    return rows


def exports_expire(now: dt.datetime | None = None) -> int:
    """Housekeeping (django-q2 schedule): delete the files of exports past their time."""
    now = now or timezone.now()
    expired = 0
    for export in Export.objects.filter(status=Export.Status.DONE, expires_at__lte=now):
        export_path(export).unlink(missing_ok=True)
        expired += Export.objects.filter(pk=export.pk, status=Export.Status.DONE).update(
            status=Export.Status.EXPIRED
        )
    return expired
