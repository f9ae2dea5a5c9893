"""Scale-out overhead: no-op jobs through genserve's Celery path vs plain Celery tasks, same broker,
same run, two worker processes each.

    .venv/bin/python bench/bench_celery.py [--n 200] [--broker amqp|redis|both]

- **plain Celery**: `send_task` of a task that only notes when it started (a Redis list), two
  `celery worker` processes (threads pool, concurrency 1, prefetch 1, late acks).
- **genserve**: `Service.submit` (validation with the image decoded, the job committed to
  PostgreSQL, its id published) of jobs for the no-op backend, two `genserve worker` processes (the
  store claim fenced by attempt, lease, `run_job`, the result and events written).

Printed per broker: throughput (jobs/s from the first submit to the last finish), submit→start p50
and p95, and the ratios genserve / plain (targets: throughput ≥ 0.8×, submit→start p50 ≤ 2×).
Every job runs in full; nothing is sampled. The services are the machine's own (a RabbitMQ vhost,
a Redis db number and a PostgreSQL database made for the run and removed after it).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SAMPLE = ROOT / "src" / "genserve" / "data" / "sample.jpg"
REDIS_DB = 14
CLIENTS = 8  # submitting threads, the same for both paths
PLAIN_APP = """
import time, redis
from celery import Celery
app = Celery("plain", broker="{broker}")
app.conf.update(task_acks_late=True, task_reject_on_worker_lost=True, worker_prefetch_multiplier=1,
                task_ignore_result=True, worker_hijack_root_logger=False)
r = redis.Redis(host="127.0.0.1", port=6379, db={db})

@app.task(name="plain.noop")
def noop(job_id, submitted):
    r.rpush("plain:started", f"{{job_id}} {{time.time() - submitted}}")
    r.rpush("plain:done", f"{{job_id}} {{time.time()}}")
"""


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def drive(submit: Any, n: int, rate: float | None) -> list[Any]:
    """Submit ``n`` jobs: from CLIENTS threads as fast as they go, or from one paced at ``rate``/s."""
    if rate is None:
        with ThreadPoolExecutor(CLIENTS) as pool:
            return list(pool.map(submit, range(n)))
    out, t0 = [], time.monotonic()
    for i in range(n):
        time.sleep(max(0.0, t0 + i / rate - time.monotonic()))
        out.append(submit(i))
    return out


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        time.sleep(0.05)


def plain_round(broker: str, n: int, rate: float | None, tmp: Path) -> dict[str, float]:
    import redis
    from celery import Celery

    (tmp / "plain_app.py").write_text(PLAIN_APP.format(broker=broker, db=REDIS_DB))
    r = redis.Redis(host="127.0.0.1", port=6379, db=REDIS_DB)
    r.delete("plain:started", "plain:done")
    workers = [
        subprocess.Popen(
            [
                str(BIN / "celery"),
                "-A",
                "plain_app",
                "worker",
                "-P",
                "threads",
                "-c",
                "1",
                "-Q",
                "plain",
                "--without-gossip",
                "--without-mingle",
                "-n",
                f"plain{i}@%h",
                "-l",
                "WARNING",
            ],
            cwd=tmp,
            env={**os.environ, "PYTHONPATH": str(tmp)},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(2)
    ]
    app = Celery("client", broker=broker, set_as_current=False)
    try:
        time.sleep(3.0)  # both workers connected (celery has no readiness probe)
        t0 = time.time()
        drive(lambda i: app.send_task("plain.noop", args=[str(i), time.time()], queue="plain"), n, rate)
        wait_for(lambda: r.llen("plain:done") >= n, 300, "plain tasks")
        started = [float(x.split()[1]) for x in r.lrange("plain:started", 0, -1)]
        last = max(float(x.split()[1]) for x in r.lrange("plain:done", 0, -1))
        return {"throughput": n / (last - t0), "p50": pct(started, 0.5), "p95": pct(started, 0.95)}
    finally:
        app.close()
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(20)
        r.delete("plain:started", "plain:done")


def genserve_round(broker: str, database: str, n: int, rate: float | None, tmp: Path) -> dict[str, float]:
    from genserve.caller import SYSTEM
    from genserve.config import Settings
    from genserve.service import Service, Submission, spool_upload

    env = {
        **os.environ,
        "GENSERVE_EXECUTOR": "celery",
        "GENSERVE_BROKER_URL": broker,
        "GENSERVE_DATABASE_URL": database,
        "GENSERVE_DATA_DIR": str(tmp / "data"),  # one machine: the workers read the inputs from here
        "GENSERVE_OUTPUT_DIR": str(tmp / "outputs"),
        "GENSERVE_PLUGINS": "svc_backends",
        "GENSERVE_WORKER_METRICS_PORT": "0",
        "GENSERVE_LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT / "tests" / "integration"),
    }
    settings = Settings(
        executor="celery",
        broker_url=broker,
        database_url=database,
        data_dir=tmp / "data",
        output_dir=tmp / "outputs",
        plugins="svc_backends",
    )
    sys.path.insert(0, str(ROOT / "tests" / "integration"))
    service = Service(settings).start()
    workers = [
        subprocess.Popen(
            [str(BIN / "genserve"), "worker", "--queues", "image-to-video"],
            cwd=tmp,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(2)
    ]
    try:
        wait_for(lambda: len(service.store.workers.alive(10)) >= 2, 60, "genserve workers")
        time.sleep(1.0)

        def submit(_: int) -> str:
            with SAMPLE.open("rb") as fh:
                upload = spool_upload(fh, "sample.jpg")
            sub = Submission(task="image-to-video", backend="noop", files={"image": [upload]})
            return service.submit(sub).id

        t0 = time.time()
        ids = drive(submit, n, rate)
        wait_for(lambda: service.store.counts().get("succeeded", 0) >= n, 300, "genserve jobs")
        records = [service.get(i, SYSTEM) for i in ids]
        started = [r.started_at - r.created_at for r in records if r.started_at]
        last = max(r.finished_at or 0 for r in records)
        return {"throughput": n / (last - t0), "p50": pct(started, 0.5), "p95": pct(started, 0.95)}
    finally:
        for w in workers:
            w.terminate()
        for w in workers:
            w.wait(30)
        service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--n", type=int, default=200, help="jobs in the throughput round")
    parser.add_argument("--paced", type=int, default=100, help="jobs in the latency round")
    parser.add_argument("--rate", type=float, default=20.0, help="jobs/s in the latency round (below both)")
    parser.add_argument("--broker", choices=("amqp", "redis", "both"), default="both")
    args = parser.parse_args()
    brokers = ["amqp", "redis"] if args.broker == "both" else [args.broker]
    rows = []
    for kind in brokers:
        vhost = f"bench-{uuid.uuid4().hex[:8]}"
        if kind == "amqp":
            subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=True, capture_output=True)
            subprocess.run(
                ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"],
                check=True,
                capture_output=True,
            )
            broker = f"amqp://guest:guest@127.0.0.1:5672/{vhost}"
        else:
            broker = f"redis://127.0.0.1:6379/{REDIS_DB - 1}"
        try:
            for label, n, rate in (("saturated", args.n, None), (f"{args.rate:g}/s", args.paced, args.rate)):
                db = f"genserve_bench_{uuid.uuid4().hex[:8]}"
                subprocess.run(["createdb", "-h", "127.0.0.1", "-U", "postgres", db], check=True)
                url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{db}"
                try:
                    with tempfile.TemporaryDirectory() as plain_tmp, tempfile.TemporaryDirectory() as gs_tmp:
                        plain = plain_round(broker, n, rate, Path(plain_tmp))
                        ours = genserve_round(broker, url, n, rate, Path(gs_tmp))
                finally:
                    subprocess.run(["dropdb", "-h", "127.0.0.1", "-U", "postgres", "--force", db])
                rows.append((kind, label, plain, ours))
        finally:
            if kind == "amqp":
                subprocess.run(["rabbitmqctl", "-q", "delete_vhost", vhost], capture_output=True)
    print(f"{'broker':<7} {'load':<10} {'path':<9} {'jobs/s':>8} {'start p50 ms':>13} {'start p95 ms':>13}")
    for kind, label, plain, ours in rows:
        for name, m in (("plain", plain), ("genserve", ours)):
            p50, p95 = m["p50"] * 1000, m["p95"] * 1000
            print(f"{kind:<7} {label:<10} {name:<9} {m['throughput']:>8.1f} {p50:>13.1f} {p95:>13.1f}")
        throughput = ours["throughput"] / plain["throughput"]
        start = ours["p50"] / plain["p50"]
        print(f"{kind:<7} {label:<10} ratio     throughput {throughput:.2f}x, start p50 {start:.2f}x")


if __name__ == "__main__":
    main()
