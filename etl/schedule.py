"""The hourly run's entry in django-celery-beat's database schedule (editable in the admin)."""

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

SCHEDULED_TASK_NAME = "kasparro: hourly ETL"
SCHEDULED_TASK = "etl.tasks.scheduled_run_task"


def schedule_ensure(*, crontab: str) -> tuple[PeriodicTask, bool]:
    """Make the periodic task exist with this crontab; an operator's enabled/disabled choice is kept."""
    fields = crontab.split()
    if len(fields) != 5:
        raise ValueError(f"ETL_SCHEDULE_CRONTAB needs 5 fields (minute hour day month weekday), got {crontab!r}")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    with transaction.atomic():
        schedule, _ = CrontabSchedule.objects.get_or_create(
            minute=minute, hour=hour, day_of_month=day_of_month, month_of_year=month_of_year,
            day_of_week=day_of_week, timezone="UTC",
        )
        task, created = PeriodicTask.objects.get_or_create(
            name=SCHEDULED_TASK_NAME, defaults={"task": SCHEDULED_TASK, "crontab": schedule}
        )
        if not created and (task.crontab_id != schedule.pk or task.task != SCHEDULED_TASK):
            task.crontab, task.task, task.interval = schedule, SCHEDULED_TASK, None
            task.save()
    return task, created
