import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kasparro.settings")

app = Celery("kasparro")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def _keep_django_logging(**kwargs: object) -> None:
    """django.setup() configures logging from LOGGING; any receiver here stops Celery adding its own handlers."""
