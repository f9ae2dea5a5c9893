"""Celery as genserve's distributed queue: the app, its queues and how a job id is published.

The broker only wakes workers: a message carries nothing but the job id, and the store decides
who runs the job (``jobs.worker``). One queue per task (``image-to-video``, ``talking-head``,
``recognize``), optionally per GPU pool (``image-to-video.a100``).

Settings that keep a job from running twice or being cut off (see ../docs and ``genserve doctor``):

- late acks, ``task_reject_on_worker_lost`` and prefetch 1: a worker that dies mid-job (even
  ``kill -9``) has its message redelivered; without ``reject_on_worker_lost`` Celery would ack it.
- Redis redelivers an unacked message after ``visibility_timeout``: it is set above the longest a
  job may take (load + run timeouts), so a long job is never started again while it runs.
- RabbitMQ closes a channel whose message stays unacked past its ``consumer_timeout`` (30 min by
  default): the broker's setting must exceed load + run timeouts (``genserve doctor`` says so).
  Even then a duplicate delivery is harmless: the claim in the store is fenced.
"""

from __future__ import annotations

import re
from typing import Any

from genserve.config import Settings
from genserve.errors import InvalidInput, missing_extra

TASK_NAME = "genserve.run_job"
MAX_PRIORITY = 9  # NOTE: RabbitMQ's x-max-priority and kombu's Redis priority steps are 0..9
POOL_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
VISIBILITY_MARGIN_S = 600.0


def queue_name(task: str, pool: str | None = None) -> str:
    if pool is None:
        return task
    if not POOL_RE.match(pool):
        raise InvalidInput(
            "must be 1-32 lower-case letters, digits, '-' or '_'",
            argument="pool",
            value=pool,
            fix="e.g. pool=a100 (the job goes to the queue image-to-video.a100)",
        )
    return f"{task}.{pool}"


def broker_priority(priority: int, low: int = -100, high: int = 100) -> int:
    """genserve's priority (-100..100, higher first) on the broker's scale (0..9, higher first)."""
    clamped = min(max(priority, low), high)
    return round((clamped - low) * MAX_PRIORITY / (high - low))


def visibility_timeout(settings: Settings) -> float:
    return settings.load_timeout_s + settings.run_timeout_s + VISIBILITY_MARGIN_S


def make_queue(name: str) -> Any:
    from kombu import Exchange, Queue

    return Queue(
        name, Exchange(name, type="direct"), routing_key=name, queue_arguments={"x-max-priority": 10}
    )


def make_celery(settings: Settings, queues: list[str] | None = None) -> Any:
    """The Celery app (celery imported here, lazily); ``queues`` are declared with priorities."""
    try:
        from celery import Celery
    except ModuleNotFoundError as exc:
        raise missing_extra(exc.name or "celery", "celery") from None
    from genserve.tasks import TASKS

    app = Celery("genserve", broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_queues=[make_queue(q) for q in (queues or list(TASKS))],
        task_create_missing_queues=False,
        task_queue_max_priority=10,
        task_default_priority=broker_priority(0),
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": visibility_timeout(settings),
            "priority_steps": list(range(MAX_PRIORITY + 1)),
            "queue_order_strategy": "priority",
        },
        worker_hijack_root_logger=False,
        worker_send_task_events=False,
        worker_enable_remote_control=False,
    )
    return app
