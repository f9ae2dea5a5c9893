"""``genserve.Client``: the HTTP client of a genserve server, used by `genserve submit`, the quality
gates and CI scripts.

    client = Client("http://gpu-box:7860", api_key="...")
    job = client.submit("image-to-video", {"image": "thumb.jpg"}, {"prompt": "slow zoom in"})
    job = client.wait(job["id"], timeout=600, on_event=print)
    paths = client.download(job, "artifacts/")

Server errors come back as genserve's own exceptions (``InvalidInput``, ``NotFound``...); a server
that does not answer raises ``ServerUnreachable``; a wait that runs out raises ``JobTimeout``.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from genserve.config import Settings, ci_environment, get_settings
from genserve.errors import GenserveError, JobTimeout, ServerUnreachable, error_class

Files = dict[str, str | Path | list[str | Path]]


class Client:
    def __init__(
        self,
        url: str | None = None,
        *,
        api_key: str | None = None,
        timeout: float = 30.0,
        settings: Settings | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        settings = settings or get_settings()
        self.url = (url or default_server_url(settings)).rstrip("/")
        key = api_key if api_key is not None else settings.api_key
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        self.http = httpx.Client(base_url=self.url, headers=headers, timeout=timeout, transport=transport)

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    # --- requests ------------------------------------------------------------------------------

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise ServerUnreachable(
                f"the server at {self.url} did not answer in time",
                fix="check that it runs (`./start_app.sh status`), or raise the client timeout",
            ) from None
        except httpx.TransportError as exc:
            raise ServerUnreachable(
                f"cannot reach the server at {self.url} ({type(exc).__name__})",
                fix="start it (`./start_app.sh api`) or pass --server URL / set GENSERVE_SERVER_URL",
            ) from None
        if response.status_code >= 400:
            raise _error(response)
        return response

    def submit(
        self,
        task: str,
        files: Files,
        params: dict[str, Any] | None = None,
        *,
        backend: str | None = None,
        model: str | None = None,
        device: str | None = None,
        job_id: str | None = None,
        priority: int = 0,
        webhook_url: str | None = None,
        webhook_events: str | None = None,
        wait: float | None = None,
        git: dict[str, str] | None = None,
        batch: str | None = None,
        batch_row: str | None = None,
    ) -> dict[str, Any]:
        """Queue a job (PUT with ``job_id``: idempotent, safe to retry). Git commit and branch come
        from the CI environment unless ``git`` is given; ``batch`` and ``batch_row`` name the batch
        and manifest row the job belongs to (``GET /v1/jobs?batch=ID`` lists a batch)."""
        git = ci_environment() if git is None else git
        data: dict[str, str] = {"task": task, "params": json.dumps(params or {}), "priority": str(priority)}
        optional = {
            "backend": backend,
            "model": model,
            "device": device,
            "webhook_url": webhook_url,
            "webhook_events": webhook_events,
            "git_commit": git.get("commit"),
            "git_branch": git.get("branch"),
            "batch": batch,
            "batch_row": batch_row,
        }
        data.update({k: v for k, v in optional.items() if v})
        headers = {"Prefer": f"wait={wait:g}"} if wait else {}
        with contextlib.ExitStack() as stack:
            parts = []
            for name, value in files.items():
                for path in value if isinstance(value, list) else [value]:
                    path = Path(path)
                    if not path.is_file():
                        raise GenserveError(
                            "file not found", argument=name, value=str(path), fix="pass an existing file"
                        )
                    parts.append((name, (path.name, stack.enter_context(path.open("rb")))))
            method, path_ = ("PUT", f"/v1/jobs/{job_id}") if job_id else ("POST", "/v1/jobs")
            timeout = None if wait is None else wait + 30.0
            response = self._request(method, path_, data=data, files=parts, headers=headers, timeout=timeout)
        result: dict[str, Any] = response.json()
        return result

    def get(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", f"/v1/jobs/{job_id}").json()
        return result

    def list_jobs(self, **filters: Any) -> dict[str, Any]:
        params = {k: v for k, v in filters.items() if v is not None}
        result: dict[str, Any] = self._request("GET", "/v1/jobs", params=params).json()
        return result

    def cancel(self, job_id: str) -> dict[str, Any]:
        result: dict[str, Any] = self._request("POST", f"/v1/jobs/{job_id}/cancel").json()
        return result

    def delete(self, job_id: str) -> None:
        self._request("DELETE", f"/v1/jobs/{job_id}")

    def backends(self) -> dict[str, Any]:
        result: dict[str, Any] = self._request("GET", "/v1/backends").json()
        return result

    def ready(self) -> dict[str, Any]:
        response = self.http.get("/readyz")
        result: dict[str, Any] = response.json()
        return result

    # --- events and waiting --------------------------------------------------------------------

    def events(self, job_id: str, after: int = 0, timeout: float | None = None) -> Iterator[dict[str, Any]]:
        """The job's events (replayed, then live) until ``completed``; reconnects where it left off."""
        deadline = None if timeout is None else time.monotonic() + timeout

        def check_deadline() -> None:
            if deadline is not None and time.monotonic() > deadline:
                raise JobTimeout(
                    f"job {job_id} did not finish within {timeout:g} s (it goes on on the server)",
                    fix=f"wait longer (--timeout), or read it later: genserve jobs show {job_id}",
                )

        last = after
        failures = 0
        while True:
            check_deadline()
            try:
                read = 30.0 if deadline is None else max(1.0, min(30.0, deadline - time.monotonic()))
                with self.http.stream(
                    "GET",
                    f"/v1/jobs/{job_id}/events",
                    headers={"Last-Event-ID": str(last)},
                    timeout=httpx.Timeout(10.0, read=read),
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise _error(response)
                    for event in _parse_sse(response.iter_lines()):
                        last = int(event.get("id", last))
                        failures = 0
                        yield event
                        if event.get("type") == "completed":
                            return
                        check_deadline()  # a job that keeps reporting progress still runs out of time
            except (httpx.TransportError, httpx.TimeoutException):
                failures += 1
                if failures > 5:
                    raise ServerUnreachable(
                        f"lost the event stream of job {job_id} at {self.url}",
                        fix="check the server; `genserve jobs show ID` reads the job later",
                    ) from None
                time.sleep(min(0.5 * 2**failures, 5.0))

    def wait(
        self, job_id: str, timeout: float = 3600.0, on_event: Callable[[dict[str, Any]], None] | None = None
    ) -> dict[str, Any]:
        """Follow the job's events until it finishes; returns the job."""
        for event in self.events(job_id, timeout=timeout):
            if on_event is not None:
                on_event(event)
        return self.get(job_id)

    def download(self, job: dict[str, Any], out_dir: str | Path) -> list[Path]:
        """Save the job's artifacts (and its result.json) into ``out_dir``."""
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        saved: list[Path] = []
        for output in (job.get("result") or {}).get("outputs", []):
            target = out / Path(output["name"]).name
            url = f"/v1/jobs/{job['id']}/artifacts/{output['name']}"
            try:
                # NOTE: outputs in object storage answer 307 to a presigned URL (httpx drops the
                # Authorization header when the redirect leaves this origin)
                with self.http.stream(
                    "GET", url, timeout=httpx.Timeout(30.0, read=300.0), follow_redirects=True
                ) as response:
                    if response.status_code >= 400:
                        response.read()
                        raise _error(response)
                    with target.open("wb") as fh:
                        for chunk in response.iter_bytes(1 << 20):
                            fh.write(chunk)
            except httpx.TransportError as exc:
                raise ServerUnreachable(
                    f"download of {output['name']} failed ({type(exc).__name__})"
                ) from None
            saved.append(target)
        (out / "result.json").write_text(json.dumps(job, indent=2))
        return saved


def default_server_url(settings: Settings) -> str:
    """GENSERVE_SERVER_URL when set; else the URL of the server ./start_app.sh started from this
    folder (``<data dir>/app.url``, beside its pid file: any --port or GENSERVE_PORT); else
    http://127.0.0.1:7860."""
    if "server_url" not in settings.model_fields_set:
        started = Path(settings.data_dir) / "app.url"
        with contextlib.suppress(OSError):
            found = started.read_text().strip()
            if found.startswith(("http://", "https://")):
                return found
    return settings.server_url


def _parse_sse(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    data: list[str] = []
    for line in lines:
        if line == "":
            if data:
                yield json.loads("\n".join(data))
                data = []
        elif line.startswith("data:"):
            data.append(line[5:].strip())


def _error(response: httpx.Response) -> GenserveError:
    try:
        body = response.json()
    except ValueError:
        body = {"message": response.text[:300] or f"HTTP {response.status_code}"}
    cls = error_class(body.get("error")) if isinstance(body, dict) else GenserveError
    message = body.get("message") if isinstance(body, dict) else None
    exc = cls(message or f"HTTP {response.status_code}")
    if isinstance(body, dict):  # the server's structured fields, for a door that rewords the fix
        exc.argument, exc.fix = body.get("argument"), body.get("fix")
    exc.http_status_received = response.status_code  # type: ignore[attr-defined]
    return exc
