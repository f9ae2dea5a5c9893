"""The server side of batches: a job carries its batch and row (request, view, provenance), the
store lists a batch, the API filters by it and the web UI's history shows one batch."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import svc_backends  # noqa: F401 - registers noop
from fastapi.testclient import TestClient

from genserve.api import create_app
from genserve.api.views import job_view
from genserve.caller import SYSTEM
from genserve.config import Settings
from genserve.errors import InvalidInput
from genserve.service import Service, Submission, Upload


@pytest.fixture
def service(settings: Settings) -> Iterator[Service]:
    svc = Service(settings).start()
    try:
        yield svc
    finally:
        svc.stop()


def submission(tmp_path: Path, sample_image: Path, batch: str | None, row: str | None) -> Submission:
    copy = tmp_path / f"upload-{uuid.uuid4().hex}.jpg"
    shutil.copy(sample_image, copy)
    return Submission(
        task="image-to-video",
        backend="noop",
        params={"prompt": f"row {row}"},
        files={"image": [Upload(copy, "sample.jpg")]},
        batch=batch,
        batch_row=row,
    )


def test_a_job_carries_its_batch_and_row(service: Service, tmp_path: Path, sample_image: Path) -> None:
    first = service.put("b1-r1", submission(tmp_path, sample_image, "b1", "r1"))[0]
    service.put("b1-r2", submission(tmp_path, sample_image, "b1", "r2"))
    service.submit(submission(tmp_path, sample_image, None, None))
    done = service.wait(first.id, 30, SYSTEM)
    assert done.request["batch"] == {"id": "b1", "row": "r1"}
    assert done.result is not None and done.result["provenance"]["batch"] == {"id": "b1", "row": "r1"}
    assert job_view(service.state(done))["batch"] == {"id": "b1", "row": "r1"}
    listed, _ = service.list_jobs(SYSTEM, batch="b1")
    assert sorted(r.id for r in listed) == ["b1-r1", "b1-r2"]
    assert len(service.list_jobs(SYSTEM)[0]) == 3 and service.list_jobs(SYSTEM, batch="b2")[0] == []
    # the API's filter, and the web UI's history of one batch
    client = TestClient(create_app(service.settings, service=service))
    page = client.get("/v1/jobs", params={"batch": "b1"}).json()
    assert sorted(j["batch"]["row"] for j in page["jobs"]) == ["r1", "r2"]
    pytest.importorskip("gradio")
    from genserve.webui.history import History
    from genserve.webui.pages import Pages

    history = History(Pages(service))
    _, rows, ids = history.batch_listing(" b1 ", None)  # type: ignore[arg-type]
    assert sorted(ids) == ["b1-r1", "b1-r2"] and sorted(r[-1] for r in rows) == ["b1/r1", "b1/r2"]
    _, rows, ids = history.batch_listing("", None)  # type: ignore[arg-type]
    assert len(ids) == 3


@pytest.mark.parametrize(("batch", "row"), [("b1", None), (None, "r1"), ("b 1", "r1"), ("b1", "../r")])
def test_a_batch_needs_a_valid_id_and_row(
    service: Service, tmp_path: Path, sample_image: Path, batch: str | None, row: str | None
) -> None:
    with pytest.raises(InvalidInput, match="batch"):
        service.submit(submission(tmp_path, sample_image, batch, row))
    assert service.list_jobs(SYSTEM)[0] == []
