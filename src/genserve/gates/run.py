"""Running a suite: generate every asset of every case (in-process or through a server), then
measure. The results document is the source of truth; judging reads it later."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from genserve.config import Settings
from genserve.gates.context import MeasureContext
from genserve.gates.fingerprint import environment_fingerprint
from genserve.gates.measure import measure_asset, measure_case, metrics_for
from genserve.gates.results import RESULTS_SCHEMA, AssetResult, CaseResult, JobSummary, Results, SuiteRecord
from genserve.gates.suite import Asset, Case, Suite
from genserve.provenance import provenance

log = logging.getLogger("genserve.gates")

__all__ = ["RESULTS_SCHEMA", "Generator", "local_generator", "run_suite", "server_generator"]


class Generator(Protocol):
    """Makes one job's output: returns (result JSON, local video path or None)."""

    def __call__(
        self, case: Case, asset: Asset, inputs: dict[str, Path]
    ) -> tuple[dict[str, Any], Path | None]: ...


def _video_of(result: dict[str, Any]) -> Path | None:
    for out in result.get("outputs") or []:
        if str(out.get("media_type", "")).startswith("video/"):
            return Path(out["path"])
    return None


def local_generator(settings: Settings) -> Generator:
    """Runs each job here, through genserve.jobs.run_job (no server), with its own warm-model cache;
    the backends of GENSERVE_PLUGINS load as they do for `genserve run`."""
    from genserve.backends.registry import import_plugins
    from genserve.jobs import JobRequest, run_job
    from genserve.jobs.runner import BackendCache

    import_plugins(settings)
    cache = BackendCache(settings.backend_cache_size)

    def generate(case: Case, asset: Asset, inputs: dict[str, Path]) -> tuple[dict[str, Any], Path | None]:
        request = JobRequest(
            task=case.task, inputs=dict(inputs), params=dict(case.params), backend=case.backend
        )
        result = run_job(request, settings=settings, cache=cache).model_dump(mode="json")
        return result, _video_of(result)

    return generate


def server_generator(
    url: str, out_dir: Path, api_key: str | None = None, timeout_s: float = 900
) -> Generator:
    """Submits each job to a genserve server (genserve.Client), waits, downloads its outputs."""
    from genserve.client import Client

    client = Client(url, api_key=api_key)

    def generate(case: Case, asset: Asset, inputs: dict[str, Path]) -> tuple[dict[str, Any], Path | None]:
        job = client.submit(case.task, dict(inputs), dict(case.params), backend=case.backend)
        job = client.wait(job["id"], timeout=timeout_s)
        result = dict(job.get("result") or {})
        result.setdefault("job_id", job["id"])
        result.setdefault("status", job.get("status"))
        for key in ("error", "message"):
            if not result.get(key) and job.get(key):
                result[key] = job[key]
        video = None
        if result.get("status") == "succeeded":
            target = out_dir / case.name / asset.id
            client.download({**job, "result": result}, target)
            for out in result.get("outputs") or []:
                out["remote_path"], out["path"] = out.get("path"), str(target / Path(out["name"]).name)
            video = _video_of(result)
        return result, video

    return generate


def run_suite(
    suite: Suite,
    generate: Generator,
    settings: Settings,
    *,
    mode: str,
    server: str | None = None,
    on_asset: Callable[[str, str, str], None] | None = None,
) -> Results:
    """Generate and measure every asset of every case; returns the results document (not judged)."""
    metrics = {m.name: m.info() for case in suite.cases for m in metrics_for(case.task, case.metrics)}
    started = datetime.now(UTC)
    cases_out = []
    for case in suite.cases:
        prompt_record = None
        if case.prompt_template:
            from genserve.gates.prompts import render_prompt

            prompt, prompt_record = render_prompt(suite.asset_path(case.prompt_template))
            case = case.model_copy(update={"params": {**case.params, "prompt": prompt}})
        contexts: list[MeasureContext] = []
        assets_out = []
        for asset in case.assets:
            inputs = {k: suite.asset_path(v) for k, v in asset.inputs.items()}
            result, video = generate(case, asset, inputs)
            job = JobSummary.of(result, str(video) if video else None)
            expect = dict(asset.expect)
            if "reference" in expect:
                refs = expect["reference"] if isinstance(expect["reference"], list) else [expect["reference"]]
                expect["reference"] = [str(suite.asset_path(r)) for r in refs]
            ctx = MeasureContext(
                task=case.task, settings=settings, video=video, inputs=inputs, expected=expect, result=result
            )
            if job.succeeded:
                contexts.append(ctx)
            assets_out.append(
                AssetResult(
                    id=asset.id,
                    inputs={k: str(v) for k, v in inputs.items()},
                    expect=expect,
                    job=job,
                    metrics=measure_asset(ctx, case.metrics) if job.succeeded else {},
                )
            )
            if on_asset is not None:
                on_asset(case.name, asset.id, str(job.status))
        cases_out.append(
            CaseResult(
                name=case.name,
                task=case.task,
                backend=case.backend,
                params=case.params,
                prompt=prompt_record,
                assets=assets_out,
                case_metrics=measure_case(contexts, case.task, case.metrics),
            )
        )
    return Results(
        schema_=RESULTS_SCHEMA,
        suite=SuiteRecord(
            name=suite.name,
            version=suite.version,
            path=str(suite.path) if suite.path else None,
            sha256=suite.sha256,
        ),
        created=started.isoformat(timespec="seconds"),
        duration_sec=round((datetime.now(UTC) - started).total_seconds(), 3),
        mode=mode,
        server=server,
        environment=environment_fingerprint(settings.device if settings.device != "auto" else None),
        provenance=provenance(),
        metrics=metrics,
        cases=cases_out,
    )
