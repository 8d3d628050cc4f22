from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.reverse import reverse

from core.params import ChoiceParam
from etl.models import Anomaly, EtlRun, RunStatus, SourceRun, SourceStatus, Trigger
from etl.services import UnknownSource, sources_validate

_STAGE_OF = {SourceStatus.EXTRACTING: "extract", SourceStatus.LOADING: "load"}


class RunTriggerInput(serializers.Serializer):
    sources = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        allow_empty=False,
        help_text="Sources to run; all configured sources when omitted.",
    )
    full = serializers.BooleanField(required=False, default=False, help_text="Ignore checkpoints.")

    def validate_sources(self, value: list[str]) -> list[str]:
        try:
            sources_validate(sources=value)
        except UnknownSource as exc:
            raise serializers.ValidationError(str(exc)) from exc
        return value


class SourceProgressSerializer(serializers.Serializer):
    """How far the source's current stage (its `status`: extracting, loading) has got."""

    percent = serializers.FloatField(
        source="progress_percent", allow_null=True, help_text="Of the stage; null while that is not known."
    )
    bytes_read = serializers.IntegerField(source="progress_bytes", allow_null=True)
    bytes_total = serializers.IntegerField(source="progress_bytes_total", allow_null=True)
    updated_at = serializers.DateTimeField(source="progress_at", allow_null=True, help_text="The last batch.")


class Seconds(serializers.FloatField):
    """A duration to the millisecond: what a stopwatch tells, not a float's seventeen digits."""

    def to_representation(self, value: float) -> float:
        return round(float(value), 3)


class SourceRunSerializer(serializers.ModelSerializer):
    duration_seconds = Seconds(read_only=True, allow_null=True)
    extract_seconds = Seconds(read_only=True, allow_null=True)
    load_seconds = Seconds(read_only=True, allow_null=True)
    loaded = serializers.IntegerField(read_only=True, help_text="Records the load has committed so far.")
    progress = SourceProgressSerializer(source="*", read_only=True)
    schema_drift = serializers.JSONField(
        read_only=True,
        help_text="Against the last successful run: added, removed, retyped, renamed (with confidence, applied "
        "or not); null with no successful run to compare with.",
    )
    warnings = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = SourceRun
        fields = [
            "source",
            "status",
            "error",
            "read",
            "inserted",
            "updated",
            "unchanged",
            "rejected",
            "loaded",
            "progress",
            "http_requests",
            "http_retries",
            "http_throttled",
            "extract_seconds",
            "load_seconds",
            "duration_seconds",
            "started_at",
            "finished_at",
            "checkpoint_before",
            "checkpoint_after",
            "schema_drift",
            "warnings",
        ]
        read_only_fields = fields


class AnomalySerializer(serializers.ModelSerializer):
    coin = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)
    reviewed = serializers.BooleanField(read_only=True)

    class Meta:
        model = Anomaly
        fields = [
            "id",
            "source",
            "kind",
            "metric",
            "value",
            "baseline",
            "score",
            "detail",
            "coin",
            "quote",
            "reviewed",
            "created_at",
        ]
        read_only_fields = fields


class RunSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = EtlRun
        fields = [
            "id",
            "url",
            "status",
            "trigger",
            "sources",
            "full",
            "replay_of",
            "requested_by",
            "error",
            "created_at",
            "started_at",
            "finished_at",
            "duration_seconds",
        ]
        read_only_fields = fields

    def get_url(self, obj: EtlRun) -> str:
        return reverse("run-detail", kwargs={"run_id": obj.pk}, request=self.context.get("request"))


class RunProgressSerializer(serializers.Serializer):
    source = serializers.CharField(allow_null=True, help_text="The source at work now; null between stages.")
    stage = serializers.CharField(allow_null=True, help_text="extract or load; null between stages.")
    records_read = serializers.IntegerField()
    records_loaded = serializers.IntegerField()


class RunDetailSerializer(RunSerializer):
    progress = serializers.SerializerMethodField()
    source_runs = SourceRunSerializer(many=True, read_only=True)
    anomalies = AnomalySerializer(many=True, read_only=True, help_text="What this run flagged; it loaded anyway.")

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "heartbeat_at", "progress", "source_runs", "anomalies"]
        read_only_fields = fields

    @extend_schema_field(RunProgressSerializer)
    def get_progress(self, obj: EtlRun) -> dict:
        parts = list(obj.source_runs.all())
        active = next((p for p in parts if p.status in _STAGE_OF), None)
        return {
            "source": active.source if active else None,
            "stage": _STAGE_OF[active.status] if active else None,
            "records_read": sum(p.read for p in parts),
            "records_loaded": sum(p.loaded for p in parts),
        }


class RunAcceptedSerializer(serializers.Serializer):
    run_id = serializers.IntegerField()
    status = serializers.CharField()
    url = serializers.URLField()
    detail = serializers.CharField(required=False)


class RunFilterSerializer(serializers.Serializer):
    """The query parameters of GET /runs, other than paging."""

    status = ChoiceParam(choices=RunStatus.choices, help_text="Only runs with this status.")
    trigger = ChoiceParam(choices=Trigger.choices, help_text="Only runs fired this way.")


class RunCompareSerializer(serializers.Serializer):
    """The query parameters of GET /runs/compare."""

    base = serializers.IntegerField(
        required=False, min_value=1, help_text="A finished run; by default the finished run before `head`."
    )
    head = serializers.IntegerField(required=False, min_value=1, help_text="A finished run; by default the newest.")
    top = serializers.IntegerField(
        required=False, default=10, min_value=1, max_value=100, help_text="How many of the biggest price moves."
    )
