"""Batch manifests: the three forms read alike, every bad row is named by its line and rule, and
ids are derived from content (stable across runs, new when the content changes)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from genserve.batch import ids
from genserve.batch.manifest import read_manifest
from genserve.batch.rows import BackendCatalog, BatchRow, ManifestInvalid, validate_manifest
from genserve.config import Settings
from genserve.errors import InvalidInput, NotFound

QA = Path(__file__).resolve().parents[2] / "qa" / "assets"
CATALOG = BackendCatalog(
    [
        {"task": "image-to-video", "backend": "camera", "available": True},
        {
            "task": "image-to-video",
            "backend": "svd",
            "available": False,
            "reason": "no weights",
            "install": "pull",
        },
        {"task": "recognize", "backend": "rapidocr", "available": True},
        {"task": "talking-head", "backend": "portrait", "available": True},
    ],
    where="on the server",
)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    shutil.copy(QA / "images" / "sample.jpg", tmp_path / "sample.jpg")
    shutil.copy(QA / "text" / "sign.png", tmp_path / "sign.png")
    shutil.copy(QA / "speech" / "hello.wav", tmp_path / "hello.wav")
    shutil.copy(QA / "faces" / "astronaut.jpg", tmp_path / "face.jpg")
    (tmp_path / "notes.txt").write_text("not an image")
    return tmp_path


def jsonl(folder: Path, rows: list[object], name: str = "m.jsonl") -> Path:
    path = folder / name
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def rows_of(path: Path, settings: Settings) -> list[BatchRow]:
    return validate_manifest(read_manifest(path), CATALOG, settings)


def problems_of(path: Path, settings: Settings) -> dict[int, list[str]]:
    with pytest.raises(ManifestInvalid) as info:
        rows_of(path, settings)
    found: dict[int, list[str]] = {}
    for problem in info.value.problems:
        found.setdefault(problem.line, []).append(problem.error.message)
    return found


I2V = {"task": "image-to-video", "backend": "camera", "inputs": {"image": "sample.jpg"}}


def test_the_three_forms_give_the_same_rows(folder: Path, settings: Settings) -> None:
    jsonl(folder, [{**I2V, "id": "a", "params": {"num_frames": 8, "resolution": "256p", "prompt": "pan"}}])
    (folder / "m.csv").write_text(
        "id,task,backend,image,audio,prompt,num_frames,resolution\na,image-to-video,camera,sample.jpg,,pan,8,256p\n"
    )
    (folder / "m.yaml").write_text(
        "rows:\n  - id: a\n    task: image-to-video\n    backend: camera\n    inputs: {image: sample.jpg}\n"
        "    params: {num_frames: 8, resolution: 256p, prompt: pan}\n"
    )
    found = [rows_of(folder / f"m.{ext}", settings)[0] for ext in ("jsonl", "csv", "yaml")]
    assert [r.line for r in found] == [1, 2, 2]
    # CSV's strings are typed by the task's Params model, so every form makes the same job
    assert {json.dumps(r.params, sort_keys=True) for r in found} == {
        '{"num_frames": 8, "prompt": "pan", "resolution": "256p"}'
    }
    assert len({r.fingerprint for r in found}) == 1
    assert found[0].inputs == {"image": [(folder / "sample.jpg").resolve()]}


def test_csv_lists_several_files_in_a_cell_and_skips_blank_lines(folder: Path, settings: Settings) -> None:
    (folder / "m.csv").write_text("task,image,top_k\n\nrecognize,sign.png;sample.jpg,3\n")
    (row,) = rows_of(folder / "m.csv", settings)
    assert row.line == 3 and row.params == {"top_k": 3}
    assert [p.name for p in row.inputs["image"]] == ["sign.png", "sample.jpg"]


def test_yaml_lines_point_at_each_item(folder: Path, settings: Settings) -> None:
    (folder / "m.yaml").write_text(
        "# two rows\n- task: recognize\n  inputs: {image: sign.png}\n\n"
        "- task: recognize\n  inputs: {image: nope.png}\n"
    )
    assert list(problems_of(folder / "m.yaml", settings)) == [5]


def test_every_bad_row_is_named_by_line_and_rule(folder: Path, settings: Settings) -> None:
    path = jsonl(
        folder,
        [
            {**I2V, "id": "ok"},
            {"task": "video-to-image", "inputs": {"image": "sample.jpg"}},
            {**I2V, "inputs": {"image": "missing.png"}},
            {**I2V, "params": {"num_frames": 0, "colour": 3}},
            {**I2V, "id": "ok"},
            "{not json",
            {**I2V, "backend": "svd"},
            {**I2V, "backend": "portrait"},
            {**I2V, "inputs": {"image": "notes.txt"}},
            {"task": "talking-head", "inputs": {"image": "face.jpg"}},
            {**I2V, "prompt": "put me under params"},
            {**I2V, "id": "../up"},
            {**I2V, "id": "results.csv"},
            {**I2V, "prompt_template": "none.j2"},
            {"task": "recognize", "inputs": {"image": "sign.png", "audio": "hello.wav"}},
            {
                "task": "talking-head",
                "inputs": {"image": "face.jpg", "audio": "hello.wav"},
                "params": {"duration": 30},
            },
        ],
    )
    found = problems_of(path, settings)
    assert sorted(found) == list(range(2, 17))
    expect = {
        2: "task: unknown task; got 'video-to-image'",
        3: "inputs.image: file does not exist; got 'missing.png'",
        5: "id: is also the id of line 1",
        6: "row: is not valid JSON",
        7: "backend: cannot run on the server: no weights",
        8: "backend: belongs to the task talking-head, not to image-to-video",
        9: "inputs.image: not a recognised image",
        10: "inputs.audio: is required",
        11: "prompt: is not a row field",
        12: "id: must be 1-64 letters",
        13: "id: is the name of a report file",
        14: "prompt_template: template file does not exist",
        15: "inputs.audio: is not an input of recognize",
        16: "duration: must be within 0.5 s of the audio's length",
    }
    for line, start in expect.items():
        assert any(m.startswith(start) for m in found[line]), (line, found[line])
    # one problem per broken rule: both parameters of line 4 are named
    assert [m.split(":")[0] for m in found[4]] == ["params.num_frames", "params.colour"]
    assert all(". Fix: " in m for ms in found.values() for m in ms)


def test_the_error_names_every_bad_line_and_says_nothing_was_submitted(
    folder: Path, settings: Settings
) -> None:
    path = jsonl(folder, [I2V, I2V, {**I2V, "inputs": {"image": "missing.png"}}])
    with pytest.raises(ManifestInvalid) as info:
        rows_of(path, settings)
    assert isinstance(info.value, InvalidInput) and info.value.exit_code == 2
    assert "2 bad rows (lines 2, 3); nothing was submitted" in info.value.message
    assert info.value.lines() == [
        "m.jsonl:2: row: repeats line 1 (the same task, backend, inputs and parameters). "
        "Fix: remove the repeat, or give both rows an id (each becomes its own job)",
        f"m.jsonl:3: inputs.image: file does not exist; got 'missing.png'. Fix: paths are relative to the "
        f"manifest's folder ({folder.resolve()})",
    ]


def test_whole_file_problems(folder: Path) -> None:
    with pytest.raises(NotFound, match="manifest file does not exist"):
        read_manifest(folder / "none.jsonl")
    (folder / "m.txt").write_text("x")
    with pytest.raises(InvalidInput, match="not a manifest format"):
        read_manifest(folder / "m.txt")
    (folder / "empty.jsonl").write_text("\n# only a comment\n")
    with pytest.raises(InvalidInput, match="has no rows"):
        read_manifest(folder / "empty.jsonl")
    (folder / "m.csv").write_text("id,image\na,sample.jpg\n")
    with pytest.raises(InvalidInput, match="has no task column"):
        read_manifest(folder / "m.csv")
    (folder / "m.yaml").write_text("task: recognize\n")
    with pytest.raises(InvalidInput, match="must be a list of rows"):
        read_manifest(folder / "m.yaml")


def test_ids_are_derived_from_content(folder: Path, settings: Settings) -> None:
    path = jsonl(folder, [I2V, {**I2V, "params": {"motion": "pan_left"}}, {**I2V, "id": "named"}])
    first = rows_of(path, settings)
    again = rows_of(path, settings)
    assert [r.id for r in first] == [r.id for r in again]
    assert first[0].id.startswith("sample-") and first[0].id != first[1].id and first[2].id == "named"
    # a row's job id changes with its content (a new job, not a conflict), never with its line
    shutil.copy(QA / "images" / "blocks.png", folder / "sample.jpg")
    changed = rows_of(path, settings)
    assert changed[2].job_id("b") != first[2].job_id("b")
    moved = rows_of(jsonl(folder, [{**I2V, "id": "x"}, {**I2V, "id": "named"}], "n.jsonl"), settings)
    assert moved[1].job_id("b") == changed[2].job_id("b")


def test_job_ids_fit_and_number_their_attempts() -> None:
    fp = "f" * 64
    assert ids.job_id("rel", "hero", fp) == "rel-hero-ffffffff"
    assert ids.job_id("rel", "hero", fp, attempt=3) == "rel-hero-ffffffff.3"
    long = ids.job_id("b" * 24, "r" * 64, fp, attempt=ids.MAX_ATTEMPTS)
    assert len(long) <= 64 and ids.ROW_ID_RE.match(long)
    assert ids.job_id("b", "r" * 64, fp) != ids.job_id("b", "r" * 63 + "s", fp)
    assert ids.default_batch_id(Path("/x/release 2 (final).jsonl")) == "release-2-final"
    with pytest.raises(InvalidInput, match="--batch-id"):
        ids.check_batch_id("-bad")


def test_prompt_templates_render_from_git(folder: Path, settings: Settings) -> None:
    shutil.copy(QA / "prompts" / "i2v.j2", folder / "i2v.j2")
    path = jsonl(
        folder,
        [
            {**I2V, "id": "t", "prompt_template": "i2v.j2"},
            {**I2V, "id": "both", "prompt_template": "i2v.j2", "params": {"prompt": "x"}},
            {
                "task": "talking-head",
                "inputs": {"image": "face.jpg", "audio": "hello.wav"},
                "prompt_template": "i2v.j2",
            },
        ],
    )
    found = problems_of(path, settings)
    assert found[2] == [
        "prompt_template: is given together with params.prompt; got 'i2v.j2'. Fix: keep one of the two"
    ]
    assert found[3][0].startswith("prompt_template: talking-head takes no prompt")
    (row,) = rows_of(jsonl(folder, [{**I2V, "id": "t", "prompt_template": "i2v.j2"}], "t.jsonl"), settings)
    assert row.params["prompt"] and row.prompt is not None and row.prompt["template"] == "i2v.j2"
