from rest_framework import serializers
from rest_framework.reverse import reverse

from etl.models import EtlRun, SourceRun
from etl.sources.registry import source_names


class RunTriggerInput(serializers.Serializer):
    sources = serializers.ListField(
        child=serializers.CharField(), required=False, allow_empty=False,
        help_text="Sources to run; all configured sources when omitted.",
    )
    full = serializers.BooleanField(required=False, default=False, help_text="Ignore checkpoints.")

    def validate_sources(self, value: list[str]) -> list[str]:
        known = source_names()
        unknown = [s for s in value if s not in known]
        if unknown:
            raise serializers.ValidationError(
                f"Unknown source(s): {', '.join(unknown)}. Known sources: {', '.join(known)}."
            )
        return value


class SourceRunSerializer(serializers.ModelSerializer):
    duration_seconds = serializers.SerializerMethodField()

    class Meta:
        model = SourceRun
        fields = [
            "source", "status", "error", "read", "inserted", "updated", "unchanged", "rejected",
            "http_requests", "http_retries", "http_throttled", "extract_seconds", "load_seconds",
            "duration_seconds", "started_at", "finished_at", "checkpoint_before", "checkpoint_after",
        ]
        read_only_fields = fields

    def get_duration_seconds(self, obj: SourceRun) -> float | None:
        if obj.extract_seconds is None and obj.load_seconds is None:
            return None
        return round((obj.extract_seconds or 0) + (obj.load_seconds or 0), 3)


class RunSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = EtlRun
        fields = ["id", "url", "status", "trigger", "sources", "full", "replay_of", "requested_by", "error",
                  "created_at", "started_at", "finished_at", "duration_seconds"]
        read_only_fields = fields

    def get_url(self, obj: EtlRun) -> str:
        return reverse("run-detail", kwargs={"run_id": obj.pk}, request=self.context.get("request"))


class RunDetailSerializer(RunSerializer):
    source_runs = SourceRunSerializer(many=True, read_only=True)

    class Meta(RunSerializer.Meta):
        fields = [*RunSerializer.Meta.fields, "heartbeat_at", "source_runs"]
        read_only_fields = fields


class RunAcceptedSerializer(serializers.Serializer):
    run_id = serializers.IntegerField()
    status = serializers.CharField()
    url = serializers.URLField()
    detail = serializers.CharField(required=False)
