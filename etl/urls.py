from django.urls import path

from etl.apis import RunCompareView, RunDetailView, RunEtlView, RunListView, StatsView

urlpatterns = [
    path("run-etl", RunEtlView.as_view(), name="run-etl"),
    path("runs", RunListView.as_view(), name="run-list"),
    path("runs/compare", RunCompareView.as_view(), name="run-compare"),
    path("runs/<int:run_id>", RunDetailView.as_view(), name="run-detail"),
    path("stats", StatsView.as_view(), name="stats"),
]
