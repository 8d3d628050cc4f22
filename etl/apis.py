"""The pipeline over HTTP: trigger a run, list and inspect runs, per-source statistics."""

from django.http import Http404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import SessionAuthentication, TokenAuthentication
from rest_framework.exceptions import ValidationError
from rest_framework.generics import ListAPIView
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.reverse import reverse
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from core.access import ReadApiMixin
from core.api import ApiContract
from core.pagination import KeysetPagination
from etl.comparison import NoRunToCompare, runs_compare, runs_to_compare
from etl.models import EtlRun, Trigger
from etl.selectors import etl_run_get, etl_runs_list, etl_stats
from etl.serializers import (
    RunAcceptedSerializer,
    RunCompareSerializer,
    RunDetailSerializer,
    RunFilterSerializer,
    RunSerializer,
    RunTriggerInput,
)
from etl.services import QueueUnavailable, etl_run_trigger


class RunEtlView(ApiContract, APIView):
    """Queue an ETL run (staff only). 202 with the new run; 409 with the run already queued or running."""

    # Token first, so a bad or missing credential is a 401 with WWW-Authenticate, not a 403.
    authentication_classes = [TokenAuthentication, SessionAuthentication]
    permission_classes = [IsAdminUser]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "run_etl"

    @extend_schema(
        request=RunTriggerInput,
        responses={202: RunAcceptedSerializer, 409: RunAcceptedSerializer, 503: RunAcceptedSerializer},
    )
    def post(self, request):
        payload = RunTriggerInput(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            run, created = etl_run_trigger(
                trigger=Trigger.API,
                sources=payload.validated_data.get("sources"),
                full=payload.validated_data["full"],
                requested_by=request.user.get_username(),
            )
        except QueueUnavailable as exc:
            return Response({"detail": f"{exc}; try again later."}, status=status.HTTP_503_SERVICE_UNAVAILABLE)
        body = {
            "run_id": run.pk,
            "status": run.status,
            "url": reverse("run-detail", kwargs={"run_id": run.pk}, request=request),
        }
        if not created:
            body["detail"] = f"Run {run.pk} is already {run.status}; only one run is active at a time."
            return Response(body, status=status.HTTP_409_CONFLICT)
        return Response(body, status=status.HTTP_202_ACCEPTED)


class RunPagination(KeysetPagination):
    page_size = 50
    ordering_fields = ("id",)
    default_ordering = "-id"


class RunListView(ApiContract, ReadApiMixin, ListAPIView):
    """ETL runs, newest first; filter by `status` and `trigger`."""

    serializer_class = RunSerializer
    pagination_class = RunPagination
    query_serializer = RunFilterSerializer

    @extend_schema(parameters=[RunFilterSerializer])
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)

    def get_queryset(self):
        filters = RunFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        return etl_runs_list(**filters.validated_data)


class RunDetailView(ApiContract, ReadApiMixin, APIView):
    """One run with each source's status, counts, timings, error and checkpoints before and after."""

    @extend_schema(responses=RunDetailSerializer)
    def get(self, request, run_id: int):
        try:
            run = etl_run_get(run_id=run_id)
        except EtlRun.DoesNotExist as exc:
            raise Http404(f"No run {run_id}.") from exc
        return Response(RunDetailSerializer(run, context={"request": request}).data)


class RunCompareView(ApiContract, ReadApiMixin, APIView):
    """How two finished runs differ: per source its status, counts and durations with their deltas, the coins it
    sent in one and not the other, how its schema differs; listings moved to another coin in between; the quotes
    whose price moved most between what each run wrote. `base` and `head` default to the last two finished runs.
    """

    query_serializer = RunCompareSerializer

    @extend_schema(
        parameters=[RunCompareSerializer],
        responses={
            200: inline_serializer(
                "RunCompare",
                {
                    "base": serializers.DictField(),
                    "head": serializers.DictField(),
                    "sources": serializers.DictField(),
                    "listings_moved": serializers.ListField(child=serializers.DictField()),
                    "price_moves": serializers.ListField(child=serializers.DictField()),
                },
            ),
        },
    )
    def get(self, request):
        params = RunCompareSerializer(data=request.query_params)
        params.is_valid(raise_exception=True)
        try:
            base, head = runs_to_compare(base=params.validated_data.get("base"), head=params.validated_data.get("head"))
        except NoRunToCompare as exc:
            raise ValidationError({exc.parameter: [str(exc)]}) from exc
        return Response(runs_compare(base=base, head=head, top=params.validated_data["top"]))


class StatsView(ApiContract, ReadApiMixin, APIView):
    """Per source: last run, last success, last failure, volumes, mean and p95 duration, success rate, schema
    drift and open anomalies; totals."""

    @extend_schema(
        responses=inline_serializer("Stats", {"sources": serializers.DictField(), "totals": serializers.DictField()})
    )
    def get(self, request):
        return Response(etl_stats())
