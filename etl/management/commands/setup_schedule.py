from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from etl.schedule import SCHEDULED_TASK_NAME, schedule_ensure


class Command(BaseCommand):
    help = "Create or update the hourly ETL entry in django-celery-beat's schedule (safe to run again)."

    def handle(self, *args, **options):
        try:
            task, created = schedule_ensure(crontab=settings.ETL_SCHEDULE_CRONTAB)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        verb = "created" if created else "up to date"
        self.stdout.write(f"schedule {SCHEDULED_TASK_NAME!r} {verb}: {task.crontab}, enabled={task.enabled}")


