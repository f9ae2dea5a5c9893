"""Where a batch's jobs run: a genserve server over HTTP, or this process (``--local``).

Both speak in the API's job views (``{"id", "status", "result", ...}``) and its event dicts, so the
engine, the results and the contact sheet are the same wherever the jobs ran.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

from genserve.batch.catalog import BackendCatalog
from genserve.batch.rows import BatchRow
from genserve.config import Settings
from genserve.errors import Conflict, NotFound, missing_extra

PAGE = 500  # jobs per listing page (the API's most)
LOCAL_FOLDER = "_local"  # under the batch's output folder: the in-process job store and its outputs


class Target(Protocol):
    where: str

    def catalog(self) -> BackendCatalog: ...

    def open(self) -> None:
        """Get ready to run jobs (called once the manifest is valid)."""
        ...

    def batch_jobs(self, batch_id: str) -> dict[str, dict[str, Any]]:
        """Every job of the batch that the caller may see, by id (``GET /v1/jobs?batch=ID``, paged)."""
        ...

    def put(self, job_id: str, row: BatchRow, batch_id: str) -> dict[str, Any]:
        """Create the row's job under ``job_id`` (idempotent: the same request returns the same job)."""
        ...

    def events(self, job_id: str) -> Iterator[dict[str, Any]]:
        """The job's events, replayed then live, until ``completed``."""
        ...

    def get(self, job_id: str) -> dict[str, Any]: ...

    def cancel(self, job_id: str) -> None:
        """Cancel it if it has not finished; a finished job is left as it is."""
        ...

    def download(self, job: dict[str, Any], folder: Path) -> list[Path]:
        """The job's outputs and its result.json into ``folder``."""
        ...

    def close(self) -> None: ...


class ServerTarget:
    def __init__(self, url: str | None, api_key: str | None, settings: Settings) -> None:
        from genserve.client import Client

        self.client = Client(url, api_key=api_key, timeout=60.0, settings=settings)
        self.where = f"on the server at {self.client.url}"

    def catalog(self) -> BackendCatalog:
        return BackendCatalog(self.client.backends()["backends"], where="on the server")

    def open(self) -> None:
        return None

    def batch_jobs(self, batch_id: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        cursor = None
        while True:
            page = self.client.list_jobs(batch=batch_id, limit=PAGE, cursor=cursor)
            found.update((job["id"], job) for job in page["jobs"])
            cursor = page.get("next_cursor")
            if not cursor:
                return found

    def put(self, job_id: str, row: BatchRow, batch_id: str) -> dict[str, Any]:
        return self.client.submit(
            row.task,
            row.files(),
            row.params,
            backend=row.backend,
            job_id=job_id,
            batch=batch_id,
            batch_row=row.id,
        )

    def events(self, job_id: str) -> Iterator[dict[str, Any]]:
        return self.client.events(job_id)

    def get(self, job_id: str) -> dict[str, Any]:
        return self.client.get(job_id)

    def cancel(self, job_id: str) -> None:
        with contextlib.suppress(Conflict, NotFound):
            self.client.cancel(job_id)

    def download(self, job: dict[str, Any], folder: Path) -> list[Path]:
        return self.client.download(job, folder)

    def close(self) -> None:
        self.client.close()


class LocalTarget:
    """The service in this process: its own job store and outputs under ``<out>/_local`` (so a rerun
    with the same --out finds the jobs of the last run), ``workers`` jobs at once."""

    def __init__(self, settings: Settings, folder: Path, workers: int) -> None:
        from genserve.caller import SYSTEM

        self.settings = settings.model_copy(
            update={
                "data_dir": folder / "data",
                "output_dir": folder / "outputs",
                "workers": workers,
                "executor": "local",
                "database_url": None,
                "artifacts_url": "",
            }
        )
        self.caller = SYSTEM
        self.where = "here"
        self._service: Any = None

    def catalog(self) -> BackendCatalog:
        from genserve.backends.registry import describe_backends, import_plugins

        import_plugins(self.settings)
        return BackendCatalog(describe_backends(self.settings), where="here")

    def open(self) -> None:
        """Start the service: its job store under the batch's folder, its workers in this process."""
        try:
            from genserve.service import Service
        except ImportError as exc:
            raise missing_extra(exc.name or "sqlalchemy", "server") from None
        self._service = Service(self.settings).start()

    @property
    def service(self) -> Any:
        assert self._service is not None, "LocalTarget.open() first"
        return self._service

    def _view(self, record: Any) -> dict[str, Any]:
        """The job as a server's API shows it (what ServerTarget gets from the client)."""
        from genserve.api.views import job_view

        return dict(job_view(self.service.state(record)))

    def batch_jobs(self, batch_id: str) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        cursor = None
        while True:
            records, cursor = self.service.list_jobs(self.caller, batch=batch_id, limit=PAGE, cursor=cursor)
            found.update((r.id, self._view(r)) for r in records)
            if not cursor:
                return found

    def put(self, job_id: str, row: BatchRow, batch_id: str) -> dict[str, Any]:
        from genserve.service import Submission, spool_upload

        files = {}
        for name, paths in row.inputs.items():  # copies: the service moves what it is given
            uploads = []
            for path in paths:
                with path.open("rb") as fh:
                    uploads.append(spool_upload(fh, path.name))
            files[name] = uploads
        sub = Submission(
            task=row.task,
            params=dict(row.params),
            files=files,
            backend=row.backend,
            batch=batch_id,
            batch_row=row.id,
        )
        record, _ = self.service.put(job_id, sub)
        return self._view(record)

    def events(self, job_id: str) -> Iterator[dict[str, Any]]:
        for event in self.service.follow(job_id, self.caller):
            yield event.to_dict()

    def get(self, job_id: str) -> dict[str, Any]:
        return self._view(self.service.get(job_id, self.caller))

    def cancel(self, job_id: str) -> None:
        with contextlib.suppress(Conflict, NotFound):
            self.service.cancel(job_id, self.caller)

    def download(self, job: dict[str, Any], folder: Path) -> list[Path]:
        folder.mkdir(parents=True, exist_ok=True)
        saved = []
        for output in (job.get("result") or {}).get("outputs", []):
            source, _ = self.service.artifact(job["id"], output["name"], self.caller)
            target = folder / Path(output["name"]).name
            target.unlink(missing_ok=True)
            try:
                target.hardlink_to(source)
            except OSError:
                shutil.copyfile(source, target)
            saved.append(target)
        (folder / "result.json").write_text(json.dumps(job, indent=2))
        return saved

    def close(self) -> None:
        if self._service is not None:
            self._service.stop()
