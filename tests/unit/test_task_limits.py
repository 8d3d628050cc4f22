"""Every task Kasparro registers can be sent: Celery checks its limits when it builds the message."""

from unittest import mock

import pytest

from kasparro.celery import app

app.loader.import_default_modules()  # the worker's autodiscovery, so every task is registered

OUR_TASKS = sorted(name for name in app.tasks if name.startswith("etl."))
ARGS = {
    "etl.tasks.extract_source_task": {"run_id": 1, "source": "legacy_csv"},
    "etl.tasks.normalize_and_upsert_task": {"run_id": 1},
}


def test_every_task_is_listed():
    assert set(OUR_TASKS) >= {"etl.tasks.scheduled_run_task", "etl.tasks.raw_records_prune_task", *ARGS}


@pytest.mark.parametrize("name", OUR_TASKS)
def test_task_message_builds(name):
    task = app.tasks[name]
    assert task.soft_time_limit is not None and task.time_limit is not None
    assert task.soft_time_limit < task.time_limit
    with mock.patch.object(app.amqp, "send_task_message") as send:
        task.apply_async(kwargs=ARGS.get(name, {}))  # raises ValueError on inconsistent limits
    assert send.call_count == 1
