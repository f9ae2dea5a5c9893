"""The Celery executor's pure parts: queue names, priorities, and the broker timeouts doctor checks."""

from __future__ import annotations

import pytest

from genserve.config import Settings
from genserve.doctor import broker_advice
from genserve.errors import InvalidInput
from genserve.jobs.celery_app import broker_priority, make_celery, queue_name, visibility_timeout


def test_queue_names_are_tasks_with_an_optional_pool() -> None:
    assert queue_name("image-to-video") == "image-to-video"
    assert queue_name("image-to-video", "a100") == "image-to-video.a100"
    with pytest.raises(InvalidInput, match="pool"):
        queue_name("image-to-video", "../x")


def test_priorities_map_onto_the_brokers_scale_in_order() -> None:
    mapped = [broker_priority(p) for p in (-100, -50, 0, 50, 100, 10**6)]
    assert mapped == sorted(mapped) and mapped[0] == 0 and mapped[-1] == 9 and mapped[2] in (4, 5)


def test_the_celery_app_acks_late_rejects_lost_workers_and_outlasts_the_longest_job() -> None:
    settings = Settings(load_timeout_s=600, run_timeout_s=3600, broker_url="redis://127.0.0.1:6379/15")
    conf = make_celery(settings).conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost and conf.worker_prefetch_multiplier == 1
    assert conf.broker_transport_options["visibility_timeout"] == visibility_timeout(settings) > 4200


def test_doctor_warns_when_rabbitmq_would_cut_a_long_job() -> None:
    long_jobs = Settings(executor="celery", load_timeout_s=600, run_timeout_s=1800)
    assert broker_advice(long_jobs).startswith("WARNING") and "consumer_timeout" in broker_advice(long_jobs)
    short = Settings(executor="celery", load_timeout_s=60, run_timeout_s=600)
    assert not broker_advice(short).startswith("WARNING")
    redis = long_jobs.model_copy(update={"broker_url": "redis://127.0.0.1:6379/0"})
    assert "visibility_timeout" in broker_advice(redis) and not broker_advice(redis).startswith("WARNING")
