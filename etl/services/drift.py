"""Schema drift, recorded: the schema a source sent on its SourceRun, compared with its last successful run's."""

import json
import logging

from django.conf import settings
from django.db.models import QuerySet
from django.utils import timezone

from etl.models import HeaderMapping, SourceRun, SourceStatus
from etl.pipeline.drift import SchemaProfiler, drift_changes, drift_summary, schema_compare
from etl.pipeline.records import RawItem

logger = logging.getLogger(__name__)


class ItemProfiler:
    """Profiles the first DRIFT_SAMPLE_ITEMS items of a source that does not read its own schema (the APIs)."""

    def __init__(self) -> None:
        self.profiler = SchemaProfiler()

    def feed(self, items: list[RawItem]) -> None:
        for item in items[: max(0, settings.DRIFT_SAMPLE_ITEMS - self.profiler.items)]:
            try:
                data = json.loads(item.payload)
            except ValueError:
                continue
            if isinstance(data, dict):
                self.profiler.feed(data)

    def profile(self) -> dict | None:
        return self.profiler.profile() if self.profiler.items else None


def source_drift_record(*, source_run: SourceRun, schema: dict | None, renames: list[dict]) -> None:
    """Set the run's `schema`, `schema_drift`, `field_renames` and `warnings` (saved by the caller).

    Each rename applied without an operator's confirmation is a warning (log and run); every rename
    found waits in the admin's header mappings for a confirmation. One WARNING line per drift.
    """
    baseline = (
        SourceRun.objects.filter(source=source_run.source, status=SourceStatus.SUCCEEDED, schema__items__gt=0)
        .exclude(pk=source_run.pk)
        .order_by("-id")
        .values_list("schema", flat=True)
        .first()
    )
    drift = schema_compare(old=baseline, new=schema)
    if renames:
        drift = _renames_merged(drift or {"added": [], "removed": [], "retyped": [], "renamed": []}, renames, baseline)
    source_run.schema, source_run.schema_drift, source_run.field_renames = schema, drift, renames
    for rename in renames:
        if rename["applied"] and not rename["confirmed"]:
            warning = f"{rename['header']!r} read as {rename['field']}, confidence {rename['confidence']:.2f}"
            source_run.warnings.append(warning)
            logger.warning("%s in run %s: %s", source_run.source, source_run.run_id, warning)
        if not rename["confirmed"]:
            HeaderMapping.objects.get_or_create(
                source=source_run.source,
                header=rename["header"],
                field=rename["field"],
                defaults={"confidence": rename["confidence"], "run_id": source_run.run_id},
            )
    if drift_changes(drift):
        logger.warning("schema drift in %s, run %s: %s", source_run.source, source_run.run_id, drift_summary(drift))


def _renames_merged(drift: dict, renames: list[dict], baseline: dict | None) -> dict:
    """The reader's renames (what it applied, what it only proposed) in place of the plain comparison's."""
    renamed = {entry["to"]: entry for entry in drift["renamed"]}
    for rename in renames:
        header = rename["header"]
        if baseline is not None and header in baseline["fields"]:
            continue  # read the same way last time: no change
        entry = renamed.get(header) or {"from": None, "to": header}
        entry.update(
            field=rename["field"],
            confidence=rename["confidence"],
            applied=rename["applied"],
            confirmed=rename["confirmed"],
        )
        if header in drift["added"]:
            drift["added"].remove(header)
        renamed[header] = entry
    drift["renamed"] = list(renamed.values())
    return drift


def header_mappings_confirm(*, mappings: QuerySet[HeaderMapping], user: str) -> int:
    """An operator's word that these headers carry these fields: later runs read them so, without a warning.

    A header confirmed as one field is no longer a candidate for another."""
    count = 0
    for mapping in mappings:
        HeaderMapping.objects.filter(source=mapping.source, header=mapping.header).exclude(pk=mapping.pk).delete()
        mapping.confirmed_at, mapping.confirmed_by = timezone.now(), user
        mapping.save(update_fields=["confirmed_at", "confirmed_by"])
        count += 1
    return count
