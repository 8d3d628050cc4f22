"""Reads of the pipeline's state."""

from etl.models import EtlRun, RunStatus


def etl_run_last(*, status: str | None = None) -> EtlRun | None:
    """The newest run, or the newest with that status."""
    runs = EtlRun.objects.all()
    if status:
        runs = runs.filter(status=status)
    return runs.order_by("-id").first()


def etl_run_last_success() -> EtlRun | None:
    return etl_run_last(status=RunStatus.SUCCEEDED)
