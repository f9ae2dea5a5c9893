"""The one place genserve reads its configuration (environment variables prefixed ``GENSERVE_``).

No other module reads ``os.environ``; they take a :class:`Settings` (``get_settings()``).
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="GENSERVE_", env_file=None, extra="ignore")

    # where things go
    output_dir: Path = Field(Path("outputs"), description="Job outputs: <output_dir>/<date>/<job_id>/")
    data_dir: Path = Field(Path(".genserve"), description="Job store, uploads and other service state")

    # execution
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    backend_cache_size: int = Field(2, ge=1, description="Loaded backends kept warm per process")
    load_timeout_s: float = Field(600.0, gt=0, description="Limit on loading one model")
    run_timeout_s: float = Field(1800.0, gt=0, description="Limit on running one job")

    # input limits
    max_image_pixels: int = Field(40_000_000, gt=0, description="Largest image accepted (width*height)")
    max_upload_bytes: int = Field(200 * 1024 * 1024, gt=0, description="Largest uploaded file")
    max_audio_seconds: float = Field(300.0, gt=0, description="Longest audio accepted")
    max_batch_files: int = Field(
        32, ge=1, le=64, description="Most files one batch input (e.g. recognize's images) takes in one job"
    )

    # models
    model_cache_dir: Path | None = Field(None, description="Hub cache directory (default: the hub's own)")
    offline: bool = Field(False, description="Never reach a model hub; use local dirs and the cache only")
    # the sonic talking-head backend runs upstream Sonic from its own checkout and Python environment
    sonic_dir: Path | None = Field(None, description="A checkout of github.com/jixiaozhong/Sonic")
    sonic_checkpoints: Path | None = Field(
        None, description="Sonic's weights (default: <sonic_dir>/checkpoints)"
    )
    sonic_python: Path | None = Field(
        None, description="Python of Sonic's own environment (default: <sonic_dir>/.venv/bin/python)"
    )
    i2v_max_short_side: int | None = Field(
        None,
        ge=8,
        description="Cap (px) on the short side a model-based image-to-video backend generates, below the "
        "task's smallest resolution if need be (small GPUs, CPU smoke tests); results warn when it applies",
    )

    # service (REST API, job store, executor)
    database_url: str | None = Field(
        None, description="Job store URL (postgresql+psycopg://...); default: SQLite in data_dir/jobs.db"
    )
    host: str = Field("127.0.0.1", description="Address `genserve serve` binds (0.0.0.0 = all interfaces)")
    port: int = Field(7860, ge=1, le=65535, description="Port `genserve serve` listens on")
    workers: int = Field(1, ge=1, le=64, description="Jobs run at once per server on CPU (1 per GPU)")
    requeue_interrupted: bool = Field(
        True, description="After a crash, requeue jobs that were running (False: mark them failed)"
    )
    lease_s: float = Field(30.0, gt=0, description="A running job's lease; a worker silent longer loses it")
    executor: Literal["local", "celery"] = Field(
        "local", description="local: jobs run on threads in the server; celery: on `genserve worker`s"
    )
    broker_url: str = Field(
        "amqp://guest:guest@127.0.0.1:5672//", description="Celery broker (amqp://... or redis://...)"
    )
    republish_after_s: float = Field(
        600.0, gt=0, description="A job queued this long since it was published is published again"
    )
    worker_metrics_port: int = Field(
        9100, ge=0, le=65535, description="Port of a worker's /metrics, /healthz, /readyz (0 = none)"
    )
    api_keys: str = Field(
        "",
        description="Comma-separated API keys (or 'sha256:<hex>' of a key); when set, requests need a Bearer "
        "key and each key sees only its own jobs",
    )
    admin_keys: str = Field(
        "", description="Comma-separated admin keys (or 'sha256:<hex>'): they see and manage every job"
    )
    session_ttl_s: float = Field(
        12 * 3600.0, gt=0, le=30 * 86400, description="How long a web UI login lasts (seconds)"
    )
    allow_ips: str = Field("", description="Comma-separated CIDRs allowed to call the API (empty = any)")
    max_jobs_per_key: int = Field(0, ge=0, description="Unfinished jobs one key may have (0 = no limit)")
    webhook_secret: str = Field(
        "", description="HMAC-SHA256 key signing webhook bodies (needed for webhooks)"
    )
    webhook_hosts: str = Field("", description="Comma-separated host names webhooks may be sent to")
    plugins: str = Field("", description="Comma-separated modules imported at start (to register backends)")
    artifacts_url: str = Field(
        "",
        description="Where job files live: empty = data_dir/output_dir on this machine; s3://bucket/prefix = "
        "S3-compatible storage (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION)",
    )
    artifact_download: Literal["redirect", "stream"] = Field(
        "redirect",
        description="S3 artifacts: downloads redirect to a presigned URL, or stream through the API",
    )
    artifact_url_ttl_s: int = Field(
        900, ge=1, le=7 * 86400, description="How long a presigned artifact URL stays valid (seconds)"
    )
    server_url: str = Field("http://127.0.0.1:7860", description="Where `genserve submit` finds the server")
    api_key: str = Field("", description="The key `genserve submit` and genserve.Client send")

    # quality gates: local weights of the metrics that need them (a metric without its weights is SKIPPED)
    gate_syncnet_weights: Path | None = Field(
        None, description="SyncNet weights (syncnet_v2.model) for LSE-D / LSE-C"
    )
    gate_inception_weights: Path | None = Field(
        None, description="TorchScript Inception feature extractor (inception-2015-12-05.pt) for FID / KID"
    )
    gate_clip_model: Path | None = Field(None, description="Local CLIP model directory for the CLIP score")

    # logging
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()


# NOTE: the usual variables of GitHub Actions, GitLab CI, Jenkins and Tekton/others.
_CI_VARS: dict[str, tuple[str, ...]] = {
    "commit": ("GITHUB_SHA", "CI_COMMIT_SHA", "GIT_COMMIT", "BUILD_VCS_NUMBER", "COMMIT_SHA"),
    "branch": ("GITHUB_HEAD_REF", "GITHUB_REF_NAME", "CI_COMMIT_REF_NAME", "GIT_BRANCH", "BRANCH_NAME"),
    "tag": ("CI_COMMIT_TAG", "TAG_NAME"),
    "ci_run": ("GITHUB_RUN_ID", "CI_PIPELINE_ID", "BUILD_NUMBER", "PIPELINE_RUN"),
    "ci_url": ("CI_PIPELINE_URL", "BUILD_URL"),
    "ci_system": (),
}


def ci_environment() -> dict[str, str]:
    """Git and CI facts from the usual CI environment variables, when present."""
    env = os.environ
    found: dict[str, str] = {}
    for key, names in _CI_VARS.items():
        for name in names:
            if env.get(name):
                found[key] = env[name]
                break
    if env.get("GITHUB_ACTIONS"):
        found["ci_system"] = "github"
        if "ci_url" not in found and env.get("GITHUB_RUN_ID") and env.get("GITHUB_REPOSITORY"):
            server = env.get("GITHUB_SERVER_URL", "")
            found["ci_url"] = f"{server}/{env['GITHUB_REPOSITORY']}/actions/runs/{env['GITHUB_RUN_ID']}"
    elif env.get("GITLAB_CI"):
        found["ci_system"] = "gitlab"
    elif env.get("JENKINS_URL"):
        found["ci_system"] = "jenkins"
    elif env.get("CI"):
        found["ci_system"] = "ci"
    return found
