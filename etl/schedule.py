"""The hourly run's entry in django-celery-beat's database schedule (editable in the admin)."""

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

SCHEDULED_TASK_NAME = "kasparro: hourly ETL"
SCHEDULED_TASK = "etl.tasks.scheduled_run_task"


def schedule_ensure(*, crontab: str, reset: bool = False) -> tuple[PeriodicTask, bool]:
    """Make the periodic task exist; (task, created).

    An existing entry is left as an operator set it in the admin (its crontab,
    enabled or not) unless `reset`, which applies `crontab` again.
    """
    fields = crontab.split()
    if len(fields) != 5:
        raise ValueError(f"ETL_SCHEDULE_CRONTAB needs 5 fields (minute hour day month weekday), got {crontab!r}")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    with transaction.atomic():
        task = PeriodicTask.objects.select_for_update().filter(name=SCHEDULED_TASK_NAME).first()
        if task is not None and not reset:
            return task, False
        schedule, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year,
            day_of_week=day_of_week, timezone="UTC",
        )
        if task is None:
            return PeriodicTask.objects.create(name=SCHEDULED_TASK_NAME, task=SCHEDULED_TASK, crontab=schedule), True
        task.crontab, task.task, task.interval = schedule, SCHEDULED_TASK, None
        task.save()
        return task, False
