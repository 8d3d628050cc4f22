"""The schedule the real way: Celery beat reads django-celery-beat's table, sends through the broker,
a worker runs the scheduled task, and a run with trigger=schedule completes."""

import pytest
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from coins.models import Quote
from etl.models import EtlRun, RunStatus, Trigger
from etl.schedule import SCHEDULED_TASK
from tests.factories import write_csv
from tests.worker import wait_for

CSV_ROWS = [f"C{i},{i + 1}.5,{i * 1000},2024-11-21T00:00:00Z,x" for i in range(50)]


def scheduled_run_finished():
    run = EtlRun.objects.filter(trigger=Trigger.SCHEDULE).order_by("pk").first()
    return run if run and run.status not in (RunStatus.QUEUED, RunStatus.RUNNING) else None


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_beat_fires_the_scheduled_task_and_a_worker_completes_the_run(csv_path, start_worker, start_beat):
    write_csv(csv_path, CSV_ROWS)
    every_two_seconds, _ = IntervalSchedule.objects.get_or_create(every=2, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.create(name="test: scheduled ETL", task=SCHEDULED_TASK, interval=every_two_seconds)
    env = {"LEGACY_CSV_PATH": str(csv_path), "ETL_SOURCES": "legacy_csv"}
    worker = start_worker(**env)
    beat = start_beat(**env)

    def finished_or_refused():
        # Beat logs a task it cannot send and carries on: no run would ever appear.
        assert "Couldn't apply scheduled task" not in beat.output(), "beat could not send the task"
        return scheduled_run_finished()

    try:
        run = wait_for(finished_or_refused, timeout=90, interval=0.5, message="a scheduled run to finish")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- beat ---\n{beat.output()}\n--- worker ---\n{worker.output()}") from None

    assert run.status == RunStatus.SUCCEEDED, run.error
    assert Quote.objects.filter(run=run).count() == 50
    assert f"Sending due task test: scheduled ETL ({SCHEDULED_TASK})" in beat.output()
