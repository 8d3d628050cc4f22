from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from etl.schedule import SCHEDULED_TASK_NAME, schedule_ensure


class Command(BaseCommand):
    help = (
        "Create the hourly ETL entry in django-celery-beat's schedule if it is missing (safe to run again); "
        "an entry edited in the admin is kept unless --reset."
    )

    def add_arguments(self, parser):
        parser.add_argument("--reset", action="store_true", help="apply ETL_SCHEDULE_CRONTAB to an existing entry")

    def handle(self, *args, reset: bool, **options):
        try:
            task, created = schedule_ensure(crontab=settings.ETL_SCHEDULE_CRONTAB, reset=reset)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        verb = "created" if created else ("reset" if reset else "up to date")
        self.stdout.write(f"schedule {SCHEDULED_TASK_NAME!r} {verb}: {task.crontab}, enabled={task.enabled}")
