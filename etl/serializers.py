from rest_framework import serializers
from rest_framework.reverse import reverse

from core.params import ChoiceParam
from etl.models import EtlRun, RunStatus, SourceRun, Trigger
from etl.services import UnknownSource, sources_validate


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


class SourceRunSerializer(serializers.ModelSerializer):
    duration_seconds = serializers.FloatField(read_only=True, allow_null=True)

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


class RunFilterSerializer(serializers.Serializer):
    """The query parameters of GET /runs, other than paging."""

    status = ChoiceParam(choices=RunStatus.choices, help_text="Only runs with this status.")
    trigger = ChoiceParam(choices=Trigger.choices, help_text="Only runs fired this way.")
