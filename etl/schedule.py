"""The periodic tasks in django-celery-beat's database schedule (editable in the admin)."""

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

SCHEDULED_TASK_NAME = "kasparro: hourly ETL"
SCHEDULED_TASK = "etl.tasks.scheduled_run_task"
PRUNE_TASK_NAME = "kasparro: prune raw records"
PRUNE_TASK = "etl.tasks.raw_records_prune_task"
PRUNE_CRONTAB = "30 3 * * *"  # daily, away from the top of the hour when the ETL runs


def schedule_ensure(*, crontab: str, reset: bool = False) -> tuple[PeriodicTask, bool]:
    """Make the hourly ETL and the daily prune exist; (the ETL's task, created).

    An existing entry is left as an operator set it in the admin (its crontab,
    enabled or not) unless `reset`, which applies the crontabs again.
    """
    task, created = _periodic_task_ensure(name=SCHEDULED_TASK_NAME, task=SCHEDULED_TASK, crontab=crontab, reset=reset)
    _periodic_task_ensure(name=PRUNE_TASK_NAME, task=PRUNE_TASK, crontab=PRUNE_CRONTAB, reset=reset)
    return task, created


def _periodic_task_ensure(*, name: str, task: str, crontab: str, reset: bool) -> tuple[PeriodicTask, bool]:
    fields = crontab.split()
    if len(fields) != 5:
        raise ValueError(f"a crontab needs 5 fields (minute hour day month weekday), got {crontab!r}")
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    with transaction.atomic():
        existing = PeriodicTask.objects.select_for_update().filter(name=name).first()
        if existing is not None and not reset:
            return existing, False
        schedule, _ = CrontabSchedule.objects.get_or_create(
            minute=minute,
            hour=hour,
            day_of_month=day_of_month,
            month_of_year=month_of_year,
            day_of_week=day_of_week,
            timezone="UTC",
        )
        if existing is None:
            return PeriodicTask.objects.create(name=name, task=task, crontab=schedule), True
        existing.crontab, existing.task, existing.interval = schedule, task, None
        existing.save()
        return existing, False
