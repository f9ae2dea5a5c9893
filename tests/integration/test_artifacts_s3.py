"""Artifact stores against a real S3 server (SeaweedFS on loopback, SigV4 checked) and on local disk.

An "API" store and a "worker" store have different data dirs, so nothing passes between them but
the bucket: what the worker gets is what the API uploaded.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit, urlunsplit

import httpx
import pytest

from genserve.config import Settings
from genserve.errors import BackendUnavailable, GenserveError, NotFound
from genserve.jobs.artifacts import ArtifactStore, LocalArtifactStore, artifact_store
from genserve.jobs.artifacts_s3 import S3ArtifactStore
from genserve.jobs.outputs import OutputFolder
from s3_server import S3Server

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def s3_env(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """boto3 reads the AWS variables itself: set them for this test."""
    for key in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_CONFIG_FILE", "AWS_SHARED_CREDENTIALS_FILE"):
        monkeypatch.delenv(key, raising=False)
    for key, value in s3_server.env.items():
        monkeypatch.setenv(key, value)
    return s3_server


def _settings(root: Path, url: str, **extra: Any) -> Settings:
    return Settings(output_dir=root / "outputs", data_dir=root / "data", artifacts_url=url, **extra)


@pytest.fixture
def prefix(request: pytest.FixtureRequest) -> str:
    """A key prefix per test, so tests sharing the session's bucket never see each other's objects."""
    return "t/" + request.node.name.replace("[", "-").replace("]", "").replace("_", "-")[:60]


@pytest.fixture
def api(s3_env: S3Server, tmp_path: Path, prefix: str) -> S3ArtifactStore:
    return S3ArtifactStore(_settings(tmp_path / "api", f"s3://{s3_env.bucket}/{prefix}"))


@pytest.fixture
def worker(s3_env: S3Server, tmp_path: Path, prefix: str) -> S3ArtifactStore:
    return S3ArtifactStore(_settings(tmp_path / "worker", f"s3://{s3_env.bucket}/{prefix}"))


def _keys(server: S3Server, prefix: str) -> list[str]:
    found = server.client().list_objects_v2(Bucket=server.bucket, Prefix=prefix + "/")
    return sorted(o["Key"] for o in found.get("Contents", []))


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _spool_upload(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / "spool" / name  # what the API's form parser leaves in a temp folder
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _run_outputs(settings: Settings, job_id: str, files: dict[str, bytes]) -> dict[str, Any]:
    """Outputs exactly as run_job leaves them: a committed folder, result.json, a result payload."""
    folder = OutputFolder(Path(settings.output_dir), job_id)
    staging = folder.open()
    for name, data in files.items():
        (staging / name).write_bytes(data)
    outputs = [folder.describe(staging / name).model_dump(mode="json") for name in files]
    final = folder.commit()
    result = {"job_id": job_id, "status": "succeeded", "task": "recognize", "outputs": outputs}
    (final / "result.json").write_text(json.dumps(result))
    return result


# --- inputs ------------------------------------------------------------------------------------


def test_put_input_then_another_worker_gets_identical_bytes(
    s3_env: S3Server, api: S3ArtifactStore, worker: S3ArtifactStore, tmp_path: Path, prefix: str
) -> None:
    big = os.urandom(9 * 1024 * 1024 + 123)  # above boto3's 8 MiB multipart threshold
    small = b"\x89PNG fake but bytes are bytes"
    refs = {
        "image": [api.put_input("job-in", "image", 0, _spool_upload(tmp_path, "a.png", small), ".PNG")],
        "audio": [api.put_input("job-in", "audio", 0, _spool_upload(tmp_path, "b.wav", big), ".wav")],
    }
    assert not (tmp_path / "spool" / "a.png").exists() and not (tmp_path / "spool" / "b.wav").exists()
    assert refs["image"][0].startswith("image_0_") and refs["image"][0].endswith(".png")
    assert _keys(s3_env, prefix) == sorted(f"{prefix}/inputs/job-in/{r[0]}" for r in refs.values())
    assert _files(tmp_path / "api") == []  # the API keeps nothing

    paths = worker.input_paths("job-in", refs)
    assert paths["image"][0].read_bytes() == small
    assert paths["audio"][0].read_bytes() == big
    assert all(p.is_relative_to(tmp_path / "worker" / "data") for ps in paths.values() for p in ps)
    again = worker.input_paths("job-in", refs)  # a second call (e.g. validation) gets its own copies
    assert again["image"][0] != paths["image"][0]

    worker.release_inputs("job-in")
    assert _files(tmp_path / "worker") == []
    worker.release_inputs("job-in")  # twice is harmless
    assert len(_keys(s3_env, prefix)) == 2  # releasing local copies keeps the objects


def test_input_gone_is_not_found_and_leaves_nothing(
    api: S3ArtifactStore, worker: S3ArtifactStore, tmp_path: Path
) -> None:
    ref = api.put_input("job-gone", "image", 0, _spool_upload(tmp_path, "a.jpg", b"jpeg"), ".jpg")
    with pytest.raises(NotFound, match="the job's input file is gone"):
        worker.input_paths("job-gone", {"image": [ref, "image_1_deadbeef.jpg"]})
    assert _files(tmp_path / "worker") == []
    assert worker.input_paths("job-gone", {}) == {}


def test_discard_inputs_removes_objects_and_local_copies(
    s3_env: S3Server, api: S3ArtifactStore, tmp_path: Path, prefix: str
) -> None:
    mine = {"image": [api.put_input("job-d", "image", 0, _spool_upload(tmp_path, "a.jpg", b"1"), ".jpg")]}
    other = {"image": [api.put_input("job-d", "image", 0, _spool_upload(tmp_path, "b.jpg", b"2"), ".jpg")]}
    local = api.input_paths("job-d", mine)  # validation at submit downloaded them
    api.discard_inputs("job-d", mine)
    assert not local["image"][0].exists()
    # a concurrent submission under the same id (PUT retry) keeps its own
    assert _keys(s3_env, prefix) == [f"{prefix}/inputs/job-d/{other['image'][0]}"]
    api.discard_inputs("job-d", mine)  # already gone: fine


# --- outputs -----------------------------------------------------------------------------------


def test_commit_outputs_uploads_records_keys_and_leaves_no_local_files(
    s3_env: S3Server, worker: S3ArtifactStore, tmp_path: Path, prefix: str
) -> None:
    settings = _settings(tmp_path / "worker", worker.uri(prefix))
    video = os.urandom(300_000)
    result = _run_outputs(settings, "job-out", {"video.mp4": video, "labels.json": b'{"a": 1}'})
    local_folder = Path(result["outputs"][0]["path"]).parent
    date = local_folder.parent.name
    before = json.loads(json.dumps(result))

    committed = worker.commit_outputs("job-out", result)
    assert result == before  # the caller's dict is left as it was
    assert not local_folder.exists()
    assert _files(tmp_path / "worker") == []
    by_name = {o["name"]: o for o in committed["outputs"]}
    key = f"{prefix}/{date}/job-out/video.mp4"
    assert by_name["video.mp4"]["key"] == key
    assert by_name["video.mp4"]["path"] == f"s3://{s3_env.bucket}/{key}"
    assert by_name["video.mp4"]["sha256"] == hashlib.sha256(video).hexdigest()
    client = s3_env.client()
    head = client.head_object(Bucket=s3_env.bucket, Key=key)
    assert head["Metadata"]["sha256"] == by_name["video.mp4"]["sha256"]
    assert head["ContentType"] == "video/mp4"
    body = client.get_object(Bucket=s3_env.bucket, Key=key)["Body"].read()
    assert hashlib.sha256(body).hexdigest() == by_name["video.mp4"]["sha256"]
    assert client.head_object(Bucket=s3_env.bucket, Key=by_name["labels.json"]["key"])["ContentType"] == (
        "application/json"
    )
    recorded = json.loads(
        client.get_object(Bucket=s3_env.bucket, Key=f"{prefix}/{date}/job-out/result.json")["Body"].read()
    )
    assert recorded["outputs"] == committed["outputs"]
    assert _keys(s3_env, prefix) == sorted(
        f"{prefix}/{date}/job-out/{n}" for n in ("video.mp4", "labels.json", "result.json")
    )
    # a retried call (the worker restarted after uploading) changes nothing
    assert worker.commit_outputs("job-out", committed) == committed
    # a failed job has no outputs: nothing to do
    failed = {"job_id": "job-x", "status": "failed", "outputs": []}
    assert worker.commit_outputs("job-x", failed) == failed


def test_commit_outputs_refuses_a_file_outside_the_jobs_folder(
    worker: S3ArtifactStore, tmp_path: Path
) -> None:
    stray = tmp_path / "elsewhere" / "job-s" / "x.txt"
    stray.parent.mkdir(parents=True)
    stray.write_text("x")
    result = {"outputs": [{"name": "x.txt", "path": str(stray), "media_type": "text/plain", "sha256": "0"}]}
    with pytest.raises(GenserveError, match="not in the job's output folder"):
        worker.commit_outputs("job-s", result)
    assert stray.exists()


def test_presigned_url_downloads_and_stream_mode_caches(
    s3_env: S3Server, api: S3ArtifactStore, worker: S3ArtifactStore, tmp_path: Path, prefix: str
) -> None:
    settings = _settings(tmp_path / "worker", worker.uri(prefix))
    data = os.urandom(50_000)
    committed = worker.commit_outputs("job-url", _run_outputs(settings, "job-url", {"video.mp4": data}))
    out = committed["outputs"][0]

    url = api.download_url("job-url", out["path"], "video.mp4")
    assert url is not None and "X-Amz-Signature=" in url and "X-Amz-Expires=900" in url
    got = httpx.get(url)
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-disposition"] == 'inline; filename="video.mp4"'
    named = api.download_url("job-url", out["path"], "vidéo clip.mp4")
    assert named is not None
    assert httpx.get(named).headers["content-disposition"] == "inline; filename*=utf-8''vid%C3%A9o%20clip.mp4"

    # stream mode: a local file the API can serve (with ranges), cached for the next request
    path = api.output_path("job-url", out["path"])
    assert path.read_bytes() == data and path.is_relative_to(tmp_path / "api" / "data" / "cache")
    assert api.output_path("job-url", out["path"]) == path

    # another job's or another bucket's path is not this job's artifact
    for bad_job, bad_path in [
        ("job-other", out["path"]),
        ("job-url", out["path"].replace(s3_env.bucket, "other-bucket")),
        ("job-url", out["path"].replace("video.mp4", "../video.mp4")),
        ("job-url", str(tmp_path / "video.mp4")),
    ]:
        with pytest.raises(NotFound):
            api.download_url(bad_job, bad_path, "video.mp4")
        with pytest.raises(NotFound):
            api.output_path(bad_job, bad_path)


def test_expired_and_tampered_urls_are_refused(
    s3_env: S3Server, worker: S3ArtifactStore, tmp_path: Path, prefix: str
) -> None:
    settings = _settings(tmp_path / "worker", worker.uri(prefix))
    committed = worker.commit_outputs(
        "job-sig", _run_outputs(settings, "job-sig", {"a.txt": b"secret a", "b.txt": b"secret b"})
    )
    paths = {o["name"]: o["path"] for o in committed["outputs"]}
    url = worker.download_url("job-sig", paths["a.txt"], "a.txt")
    assert url is not None
    assert httpx.get(url).status_code == 200

    # a changed signature
    parts = urlsplit(url)
    signature = parse_qs(parts.query)["X-Amz-Signature"][0]
    flipped = ("1" if signature[0] == "0" else "0") + signature[1:]  # its first hex digit changed
    assert httpx.get(url.replace(signature, flipped)).status_code == 403
    # the same signature on another key (b.txt instead of a.txt)
    other = urlunsplit(parts._replace(path=parts.path.replace("/a.txt", "/b.txt")))
    assert httpx.get(other).status_code == 403
    # a longer expiry than was signed
    assert httpx.get(url.replace("X-Amz-Expires=900", "X-Amz-Expires=9000")).status_code == 403

    short = S3ArtifactStore(_settings(tmp_path / "api", worker.uri(prefix), artifact_url_ttl_s=1))
    expiring = short.download_url("job-sig", paths["b.txt"], "b.txt")
    assert expiring is not None and "X-Amz-Expires=1&" in expiring
    time.sleep(2.2)
    refused = httpx.get(expiring)
    assert refused.status_code == 403, refused.text


def test_delete_removes_every_object_of_the_job(
    s3_env: S3Server, api: S3ArtifactStore, worker: S3ArtifactStore, tmp_path: Path, prefix: str
) -> None:
    settings = _settings(tmp_path / "worker", worker.uri(prefix))
    paths: dict[str, list[str]] = {}
    for job in ("job-del", "job-keep"):
        ref = api.put_input(job, "image", 0, _spool_upload(tmp_path, f"{job}.jpg", b"in"), ".jpg")
        worker.input_paths(job, {"image": [ref]})
        committed = worker.commit_outputs(job, _run_outputs(settings, job, {"out.png": job.encode()}))
        worker.release_inputs(job)
        paths[job] = [o["path"] for o in committed["outputs"]]
    cached = api.output_path("job-del", paths["job-del"][0])
    assert len(_keys(s3_env, prefix)) == 6

    api.delete("job-del", paths["job-del"])
    left = _keys(s3_env, prefix)
    assert left and all("/job-keep/" in k for k in left) and len(left) == 3
    assert not cached.exists()
    with pytest.raises(NotFound):
        api.output_path("job-del", paths["job-del"][0])
    api.delete("job-del", paths["job-del"])  # twice: nothing left to do


# --- configuration errors ----------------------------------------------------------------------


def test_missing_bucket_names_the_bucket_and_the_fix(s3_env: S3Server, tmp_path: Path) -> None:
    store = S3ArtifactStore(_settings(tmp_path, "s3://no-such-bucket-here/x"))
    with pytest.raises(BackendUnavailable, match="'no-such-bucket-here' does not exist") as err:
        store.check()
    assert "aws s3 mb s3://no-such-bucket-here" in err.value.message
    with pytest.raises(BackendUnavailable, match="does not exist"):  # at first use, too
        store.put_input("job", "image", 0, _spool_upload(tmp_path, "a.jpg", b"x"), ".jpg")
    assert (tmp_path / "spool" / "a.jpg").exists()  # left for the caller to clean up


def test_wrong_secret_says_the_credentials_were_refused(
    s3_env: S3Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    store = S3ArtifactStore(_settings(tmp_path, s3_env.artifacts_url))
    with pytest.raises(BackendUnavailable, match="refused genserve's credentials") as err:
        store.check()
    assert s3_env.bucket in err.value.message and "AWS_SECRET_ACCESS_KEY" in err.value.message
    with pytest.raises(BackendUnavailable, match="refused genserve's credentials"):
        store.input_paths("job", {"image": ["image_0_00000000.jpg"]})


def test_good_store_checks_ready(api: S3ArtifactStore) -> None:
    assert api.check() is True


@pytest.mark.parametrize(
    "url",
    [
        "http://bucket/x",
        "bucket/prefix",
        "s3://",
        "s3://Upper/x",
        "s3://ab/x",
        "s3://b..c/x",
        "s3://bkt/a/../b",
    ],
)
def test_factory_refuses_a_bad_url(tmp_path: Path, url: str) -> None:
    with pytest.raises(GenserveError) as err:
        artifact_store(_settings(tmp_path, url))
    message = err.value.message
    assert "GENSERVE_ARTIFACTS_URL" in message and "s3://bucket/prefix" in message
    assert "s3://genserve-artifacts/jobs" in message  # an example


def test_factory_picks_the_store(s3_env: S3Server, tmp_path: Path) -> None:
    assert isinstance(artifact_store(_settings(tmp_path, "")), LocalArtifactStore)
    store = artifact_store(_settings(tmp_path, "s3://genserve-test/a/b/"))
    assert isinstance(store, S3ArtifactStore)
    assert (store.bucket, store.prefix) == ("genserve-test", "a/b")
    bare = artifact_store(_settings(tmp_path, "s3://genserve-test"))
    assert isinstance(bare, S3ArtifactStore) and bare.prefix == ""


# --- the same contract, local and S3 -----------------------------------------------------------


@pytest.fixture(params=["local", "s3"])
def stores(request: pytest.FixtureRequest, tmp_path: Path, prefix: str) -> Iterator[tuple[Any, ...]]:
    """(api store, worker store, worker settings): local ones share a machine, S3 ones only a bucket."""
    if request.param == "local":
        settings = _settings(tmp_path, "")
        store = LocalArtifactStore(settings)
        yield store, store, settings
        return
    server = request.getfixturevalue("s3_env")
    url = f"s3://{server.bucket}/{prefix}"
    settings = _settings(tmp_path / "worker", url)
    yield S3ArtifactStore(_settings(tmp_path / "api", url)), S3ArtifactStore(settings), settings


def test_contract(stores: tuple[ArtifactStore, ArtifactStore, Settings], tmp_path: Path) -> None:
    api, worker, settings = stores
    assert api.check() is True and worker.check() is True
    # submit: inputs in, validated, then the worker runs the job
    data = os.urandom(10_000)
    refs = {"image": [api.put_input("job-c", "image", 0, _spool_upload(tmp_path, "up.jpg", data), ".jpg")]}
    assert not (tmp_path / "spool" / "up.jpg").exists()
    assert api.input_paths("job-c", refs)["image"][0].read_bytes() == data
    api.release_inputs("job-c")
    inputs = worker.input_paths("job-c", refs)
    assert inputs["image"][0].read_bytes() == data
    result = _run_outputs(settings, "job-c", {"out.bin": data[::-1]})
    committed = worker.commit_outputs("job-c", result)
    worker.release_inputs("job-c")
    out = committed["outputs"][0]
    assert out["sha256"] == hashlib.sha256(data[::-1]).hexdigest() and out["name"] == "out.bin"
    # download: a presigned URL (S3) or a local file the API streams
    url = api.download_url("job-c", out["path"], "out.bin")
    if url is None:
        assert isinstance(api, LocalArtifactStore)
    else:
        assert httpx.get(url).content == data[::-1]
    assert api.output_path("job-c", out["path"]).read_bytes() == data[::-1]
    with pytest.raises(NotFound):
        api.output_path("job-other", out["path"])
    # delete: inputs and outputs gone
    api.delete("job-c", [out["path"]])
    with pytest.raises(NotFound, match="the job's input file is gone"):
        worker.input_paths("job-c", refs)
    with pytest.raises(NotFound):
        api.output_path("job-c", out["path"])
    # a refused submission: its inputs are discarded
    refused = {"image": [api.put_input("job-r", "image", 0, _spool_upload(tmp_path, "r.jpg", b"r"), ".jpg")]}
    api.discard_inputs("job-r", refused)
    with pytest.raises(NotFound, match="the job's input file is gone"):
        worker.input_paths("job-r", refused)


# --- local disk stays bounded ------------------------------------------------------------------


def test_stream_cache_evicts_least_recently_used(
    s3_env: S3Server, worker: S3ArtifactStore, tmp_path: Path, prefix: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import genserve.jobs.artifacts_s3 as s3_module

    settings = _settings(tmp_path / "worker", worker.uri(prefix))
    files = {"a.bin": b"a" * 1000, "b.bin": b"b" * 1000}
    committed = worker.commit_outputs("job-lru", _run_outputs(settings, "job-lru", files))
    paths = {o["name"]: o["path"] for o in committed["outputs"]}
    monkeypatch.setattr(s3_module, "CACHE_KEEP_S", 0.0)
    api = S3ArtifactStore(_settings(tmp_path / "api", worker.uri(prefix)), cache_bytes=1500)
    first = api.output_path("job-lru", paths["a.bin"])
    second = api.output_path("job-lru", paths["b.bin"])
    assert second.read_bytes() == files["b.bin"] and not first.exists()  # over 1500 bytes: a.bin out
    assert api.output_path("job-lru", paths["a.bin"]).read_bytes() == files["a.bin"]  # fetched again
    assert not second.exists()


def test_spool_of_a_dead_process_is_swept(api: S3ArtifactStore, tmp_path: Path) -> None:
    import socket

    import psutil

    dead = next(pid for pid in range(4_000_000, 3_000_000, -1) if not psutil.pid_exists(pid))
    stale = api.spool_root / f"{socket.gethostname()}-{dead}-0a0b0c0d" / "job-old-1234" / "image_0_x.jpg"
    alive = api.spool_root / f"{socket.gethostname()}-{os.getpid()}-0a0b0c0d" / "job-new" / "image_0_y.jpg"
    for path in (stale, alive):
        path.parent.mkdir(parents=True)
        path.write_bytes(b"left over")
    ref = api.put_input("job-sweep", "image", 0, _spool_upload(tmp_path, "a.jpg", b"x"), ".jpg")
    got = api.input_paths("job-sweep", {"image": [ref]})
    assert not stale.exists() and alive.exists()  # a live process's folder is left alone
    assert got["image"][0].is_relative_to(api.spool_root)
