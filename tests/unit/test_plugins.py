"""One registration idiom: genserve's own entries, entry points, GENSERVE_PLUGINS modules and
run-time registration; broken plugins kept with their reason; tasks found like backends."""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from pydantic import BaseModel

from genserve import plugins
from genserve.errors import NotFound
from genserve.tasks import TASKS, MediaInput, TaskSpec, get_task, register_task, unregister_task


class NoParams(BaseModel):
    pass


def _spec(name: str = "echo-text", **more: object) -> TaskSpec:
    fields: dict = {
        "name": name,
        "title": "Echo",
        "description": "Echo a text file",
        "params_model": NoParams,
        "inputs": (MediaInput("text", "text"),),
        **more,
    }
    return TaskSpec(**fields)


def _a_float(obj: object) -> float:
    if not isinstance(obj, float):
        raise TypeError(f"{obj!r} is not a float")
    return obj


def test_registry_loads_builtin_targets_lazily_and_accepts_runtime_entries() -> None:
    reg: plugins.Registry[float] = plugins.Registry(
        "number", "genserve.test-numbers", {"answer": "math:tau"}, accept=_a_float, name_of=str
    )
    assert "answer" in reg and reg["answer"] == pytest.approx(6.2831853)
    reg.register(3.0, "three")
    assert list(reg) == ["answer", "three"]
    reg.unregister("three")
    assert len(reg) == 1
    with pytest.raises(TypeError):
        reg.register("x")  # type: ignore[arg-type]  # a wrong object is never registered
    with pytest.raises(TypeError, match="needs a name"):
        plugins.Registry("thing", "genserve.test-things").register(object())


def test_a_plugin_module_that_fails_to_import_is_listed_with_its_reason(tmp_path: Path) -> None:
    (tmp_path / "gs_broken_plugin.py").write_text("raise RuntimeError('needs a GPU driver')\n")
    sys.path.insert(0, str(tmp_path))
    try:
        assert plugins.import_plugins("gs_broken_plugin, ") == []
    finally:
        sys.path.remove(str(tmp_path))
    (found,) = [b for b in plugins.broken() if b.name == "gs_broken_plugin"]
    assert found.kind == "module" and found.reason == "RuntimeError: needs a GPU driver"
    assert plugins.import_plugins("gs_broken_plugin") == []  # imported (tried) once per process


def test_a_task_registered_at_run_time_is_served_and_removable() -> None:
    spec = register_task(_spec())
    try:
        assert get_task("echo-text") is spec and list(TASKS)[:3] == [
            "image-to-video",
            "talking-head",
            "recognize",
        ]
    finally:
        unregister_task("echo-text")
    with pytest.raises(NotFound) as info:
        get_task("echo-text")
    assert info.value.argument == "task" and "recognize" in (info.value.fix or "")


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"name": "Echo Text"}, "lowercase letters, digits and '-'"),
        ({"output": "hologram"}, "output must be one of"),
        ({"inputs": (MediaInput("a", "text"), MediaInput("a", "text"))}, "unique"),
        ({"inputs": (MediaInput("Bad-Name", "text"),)}, "lowercase letters, digits and '_'"),
    ],
)
def test_a_task_spec_refuses_what_the_doors_cannot_derive(change: dict, rule: str) -> None:
    with pytest.raises(ValueError, match=rule):
        _spec(**change)


def test_an_input_kind_must_be_one_genserve_decodes() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        MediaInput("clip", "hologram")  # type: ignore[arg-type]


@pytest.fixture()
def task_dist(tmp_path: Path) -> Iterator[Path]:
    """An installed package that adds a task through the ``genserve.tasks`` entry-point group."""
    (tmp_path / "gs_echo_task.py").write_text(
        textwrap.dedent(
            """
            from pydantic import BaseModel
            from genserve.tasks import MediaInput, TaskSpec

            class P(BaseModel):
                pass

            SPEC = TaskSpec(name="echo-ep", title="Echo", description="Echo", params_model=P,
                            inputs=(MediaInput("text", "text"),))
            NOT_A_SPEC = 42
            """
        )
    )
    dist = tmp_path / "gs_echo_task-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gs-echo-task\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[genserve.tasks]\necho-ep = gs_echo_task:SPEC\nnot-a-task = gs_echo_task:NOT_A_SPEC\n"
    )
    sys.path.insert(0, str(tmp_path))
    TASKS.reset()
    yield tmp_path
    sys.path.remove(str(tmp_path))
    sys.modules.pop("gs_echo_task", None)
    TASKS.reset()


def test_tasks_come_from_the_entry_point_group(task_dist: Path) -> None:
    assert get_task("echo-ep").inputs[0].kind == "text"
    assert "not-a-task" not in TASKS
    (found,) = [b for b in plugins.broken() if b.name == "not-a-task"]
    assert found.kind == "task" and "is not a genserve TaskSpec" in found.reason


def test_a_package_adds_cli_commands_and_a_broken_one_is_listed(tmp_path: Path) -> None:
    import os
    import subprocess

    (tmp_path / "gs_cli_plugin.py").write_text(
        textwrap.dedent(
            """
            import typer

            def register(app: typer.Typer) -> None:
                @app.command()
                def hello(name: str = "world") -> None:
                    '''Say hello.'''
                    typer.echo(f"hello {name}")

            def boom(app: typer.Typer) -> None:
                raise RuntimeError("needs a newer genserve")
            """
        )
    )
    dist = tmp_path / "gs_cli_plugin-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: gs-cli-plugin\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[genserve.commands]\nhello = gs_cli_plugin:register\nboom = gs_cli_plugin:boom\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    said = subprocess.run(
        [sys.executable, "-m", "genserve", "hello", "--name", "genserve"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert said.returncode == 0, said.stderr
    assert said.stdout.strip() == "hello genserve"
    listed = subprocess.run(
        [sys.executable, "-m", "genserve", "backends", "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert listed.returncode == 0, listed.stderr
    import json

    (broken,) = [row for row in json.loads(listed.stdout) if row.get("broken")]
    assert broken["kind"] == "command" and broken["name"] == "boom"
    assert "needs a newer genserve" in broken["reason"]
