"""Scale-out end to end: an API with the Celery executor, two `genserve worker` processes in folders
of their own, PostgreSQL, RabbitMQ (and Redis), and object storage for every job file.

Jobs finish exactly once however the broker or the workers behave: a worker killed mid-job, a
message published twice, a cancel of a job running elsewhere; the SSE stream carries a remote
worker's progress; outputs live only in S3 and download through presigned URLs."""

from __future__ import annotations

import json
import signal
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from cluster import TcpProxy, Worker, cluster_env, postgres_db, rabbitmq_vhost, redis_db
from live_server import LiveServer

pytestmark = pytest.mark.slow

PNG = Path(__file__).resolve().parents[2] / "src" / "genserve" / "data" / "sample.jpg"


class Cluster:
    def __init__(
        self, tmp: Path, env: dict[str, str], queues: tuple[str, str], api_env: dict[str, str] | None = None
    ) -> None:
        (tmp / "api").mkdir(parents=True, exist_ok=True)
        self.api = LiveServer(tmp / "api", **{**env, **(api_env or {})})
        self.workers = [Worker(tmp / f"worker-{i}", q, **env) for i, q in enumerate(queues)]
        self.env = env

    def __enter__(self) -> Cluster:
        self.api.start()
        for worker in self.workers:
            worker.start()
        return self

    def __exit__(self, *exc: object) -> None:
        for worker in self.workers:
            worker.stop()
        self.api.stop()

    def submit(self, data: dict[str, str], name: str = "photo.jpg") -> str:
        files = {"image": (name, PNG.read_bytes(), "image/jpeg")}
        r = httpx.post(f"{self.api.url}/v1/jobs", data=data, files=files, timeout=30)
        assert r.status_code == 202, r.text
        return str(r.json()["id"])

    def job(self, job_id: str) -> dict:
        return httpx.get(f"{self.api.url}/v1/jobs/{job_id}", timeout=10).json()

    def wait(self, ids: list[str], timeout: float = 120) -> list[dict]:
        deadline = time.monotonic() + timeout
        pending = set(ids)
        while pending and time.monotonic() < deadline:
            for job_id in list(pending):
                if self.job(job_id)["status"] in ("succeeded", "failed", "canceled"):
                    pending.discard(job_id)
            time.sleep(0.2)
        assert not pending, (
            f"not finished: {sorted(pending)[:5]}; {[w.log.read_text()[-1500:] for w in self.workers]}"
        )
        return [self.job(j) for j in ids]

    def runs(self) -> Counter[str]:
        return Counter(run for worker in self.workers for run in worker.runs())


@pytest.fixture
def rabbit_cluster(tmp_path: Path, s3_server) -> Iterator[Cluster]:
    with rabbitmq_vhost() as broker, postgres_db() as database:
        env = cluster_env(broker, database, **s3_server.env)
        with Cluster(tmp_path, env, ("image-to-video,recognize", "image-to-video,recognize")) as cluster:
            yield cluster


def _noop(i: int) -> dict[str, str]:
    return {"task": "image-to-video", "backend": "noop", "prompt": f"count:{i}"}


def test_forty_jobs_on_two_queues_run_once_each_with_files_only_in_s3(
    rabbit_cluster: Cluster, s3_server
) -> None:
    cluster = rabbit_cluster
    ids = [cluster.submit(_noop(i)) for i in range(20)]
    ids += [
        cluster.submit({"task": "recognize", "backend": "noop-recognize"}, f"page-{i}.png") for i in range(20)
    ]
    jobs = cluster.wait(ids)
    assert [j["status"] for j in jobs] == ["succeeded"] * 40
    runs = cluster.runs()
    expected = {f"count:{i}" for i in range(20)} | {f"page-{i}.png" for i in range(20)}
    assert set(runs) == expected and set(runs.values()) == {1}  # every job once, none twice
    assert all(len(w.runs()) > 0 for w in cluster.workers), "both workers took jobs"
    # inputs went to S3 at submit: the API's data folder holds the store only, no input files
    api_files = [p for p in (Path(cluster.api.env["GENSERVE_DATA_DIR"])).rglob("*") if p.is_file()]
    assert all("inputs" not in p.parts for p in api_files), api_files
    # a real output: a camera job's MP4 lives in S3 only, and the API redirects to a presigned URL
    camera = cluster.submit(
        {"task": "image-to-video", "backend": "camera", "resolution": "256p", "num_frames": "3", "fps": "6"}
    )
    (job,) = cluster.wait([camera])
    assert job["status"] == "succeeded", job
    out = job["result"]["outputs"][0]
    assert out["path"].startswith(f"s3://{s3_server.bucket}/")
    for worker in cluster.workers:
        assert not list((worker.folder / "outputs").rglob("*.mp4")), "no output left on a worker's disk"
    r = httpx.get(job["artifacts"][out["name"]], timeout=30)
    assert r.status_code == 307 and "X-Amz-Signature" in r.headers["location"]
    video = httpx.get(r.headers["location"], timeout=30)
    assert video.status_code == 200 and len(video.content) == out["bytes"]
    tampered = r.headers["location"].replace("X-Amz-Signature=", "X-Amz-Signature=0")
    assert httpx.get(tampered, timeout=30).status_code == 403
    # delete removes the objects
    assert httpx.delete(f"{cluster.api.url}/v1/jobs/{camera}", timeout=30).status_code == 204
    assert httpx.get(r.headers["location"], timeout=30).status_code == 404


def test_worker_killed_mid_job_finishes_once_on_the_other(rabbit_cluster: Cluster) -> None:
    cluster = rabbit_cluster
    job_id = cluster.submit({"task": "image-to-video", "backend": "slow", "steps": "30", "prompt": "kill-me"})
    deadline = time.monotonic() + 60
    victim = None
    while victim is None and time.monotonic() < deadline:
        job = cluster.job(job_id)
        if job["status"] == "running" and (job.get("progress") or {}).get("step", 0) >= 3:
            victim = next(w for w in cluster.workers if "kill-me" in w.runs())
        time.sleep(0.1)
    assert victim is not None
    victim.kill9()
    (done,) = cluster.wait([job_id], timeout=120)
    assert done["status"] == "succeeded" and done["attempt"] == 2, done
    survivor = next(w for w in cluster.workers if w is not victim)
    assert survivor.runs().count("kill-me") == 1
    history = [h["event"] for h in done["history"]]
    assert history.count("completed") == 1 and "requeued" in history


def test_a_message_published_twice_runs_once(rabbit_cluster: Cluster) -> None:
    from genserve.config import Settings
    from genserve.jobs.celery_app import TASK_NAME, make_celery

    cluster = rabbit_cluster
    job_id = cluster.submit({"task": "image-to-video", "backend": "slow", "steps": "5", "prompt": "twice"})
    app = make_celery(Settings(broker_url=cluster.env["GENSERVE_BROKER_URL"]))
    for _ in range(2):
        app.send_task(TASK_NAME, args=[job_id], queue="image-to-video")
    app.close()
    (done,) = cluster.wait([job_id])
    assert done["status"] == "succeeded"
    time.sleep(1.0)  # let the duplicates be consumed
    assert cluster.runs()["twice"] == 1 and cluster.job(job_id)["attempt"] == 1


def test_cancel_reaches_a_job_running_on_a_worker_and_sse_carries_its_progress(
    rabbit_cluster: Cluster,
) -> None:
    cluster = rabbit_cluster
    job_id = cluster.submit(
        {"task": "image-to-video", "backend": "slow", "steps": "100", "prompt": "stop-me"}
    )
    seen: list[tuple[str, float, float]] = []
    canceled = False
    with httpx.stream("GET", f"{cluster.api.url}/v1/jobs/{job_id}/events", timeout=60) as stream:
        kind = ""
        for line in stream.iter_lines():
            if line.startswith("event: "):
                kind = line[7:]
            elif line.startswith("data: "):
                data = json.loads(line[6:])
                seen.append((kind, datetime.fromisoformat(data["at"]).timestamp(), time.time()))
                if kind == "progress" and data["step"] >= 5 and not canceled:
                    canceled = True
                    r = httpx.post(f"{cluster.api.url}/v1/jobs/{job_id}/cancel", timeout=10)
                    assert r.status_code == 202
                if kind == "completed":
                    assert data["status"] == "canceled"
                    break
    kinds = [k for k, _, _ in seen]
    assert kinds[0] == "queued" and "started" in kinds and kinds.count("progress") >= 3
    lag = sorted(received - at for kind, at, received in seen if kind == "progress")
    assert lag[len(lag) // 2] < 0.6, lag  # a remote worker's progress arrives within about half a second
    assert cluster.runs()["stop-me"] == 1 and cluster.job(job_id)["status"] == "canceled"


def test_redis_broker_runs_jobs_on_two_workers(tmp_path: Path, s3_server) -> None:
    with redis_db() as broker, postgres_db() as database:
        env = cluster_env(broker, database, **s3_server.env)  # no shared folder: job files in S3
        with Cluster(tmp_path, env, ("image-to-video", "image-to-video,recognize")) as cluster:
            ids = [cluster.submit(_noop(i)) for i in range(20)]
            ids += [
                cluster.submit({"task": "recognize", "backend": "noop-recognize"}, f"r-{i}.png")
                for i in range(20)
            ]
            jobs = cluster.wait(ids)
            assert [j["status"] for j in jobs] == ["succeeded"] * 40
            runs = cluster.runs()
            assert len(runs) == 40 and set(runs.values()) == {1}


def test_broker_unreachable_at_submit_then_restored_loses_nothing(tmp_path: Path, s3_server) -> None:
    with rabbitmq_vhost() as broker, postgres_db() as database:
        proxy = TcpProxy(5672).start()  # the API reaches RabbitMQ through it; the workers directly
        via_proxy = broker.replace("127.0.0.1:5672", f"127.0.0.1:{proxy.port}")
        env = cluster_env(broker, database, **s3_server.env)
        queues = ("image-to-video", "image-to-video")
        try:
            with Cluster(tmp_path, env, queues, api_env={"GENSERVE_BROKER_URL": via_proxy}) as cluster:
                proxy.stop()  # the connection drops; new ones are refused
                ids = [cluster.submit(_noop(i)) for i in range(5)]  # accepted: committed, not yet published
                assert {cluster.job(j)["status"] for j in ids} == {"queued"}
                proxy.start()  # the broker is back: the reconciler publishes what was left unpublished
                jobs = cluster.wait(ids, timeout=90)
                assert [j["status"] for j in jobs] == ["succeeded"] * 5
                runs = cluster.runs()
                assert sorted(runs) == sorted(f"count:{i}" for i in range(5)) and set(runs.values()) == {1}
        finally:
            proxy.stop()


def test_sigterm_lets_a_worker_finish_its_job_before_it_stops(rabbit_cluster: Cluster) -> None:
    cluster = rabbit_cluster
    job_id = cluster.submit({"task": "image-to-video", "backend": "slow", "steps": "20", "prompt": "term-me"})
    deadline = time.monotonic() + 60
    worker = None
    while worker is None and time.monotonic() < deadline:
        if cluster.job(job_id)["status"] == "running":
            worker = next((w for w in cluster.workers if "term-me" in w.runs()), None)
        time.sleep(0.1)
    assert worker is not None and worker.proc is not None
    worker.proc.send_signal(signal.SIGTERM)  # Celery's warm shutdown: the running job goes on
    (done,) = cluster.wait([job_id], timeout=60)
    assert done["status"] == "succeeded" and done["attempt"] == 1, done
    assert worker.proc.wait(30) == 0
    assert cluster.runs()["term-me"] == 1
