"""genserve's exception tree: the table its docstring promises, one-line messages composed of the
argument, the rule, the value and the fix, the JSON error body, and the lookup by code that turns a
server's answer or a failed job's ``error`` back into the same exception class."""

from __future__ import annotations

import re

import pytest

import genserve.errors as errors
from genserve.errors import (
    BackendUnavailable,
    Conflict,
    GenserveError,
    InvalidInput,
    NotFound,
    OutOfMemory,
    all_error_classes,
    error_class,
    is_out_of_memory,
    missing_extra,
)

# the classes of the table: genserve.errors' own (a module may refine one, e.g. a manifest's
# InvalidInput that lists every broken row, and keeps its code)
CLASSES = [cls for cls in all_error_classes(GenserveError) if cls.__module__ == errors.__name__]


def _documented() -> dict[str, tuple[int, int]]:
    """The module docstring's tree: class name -> (HTTP status, exit code)."""
    rows = re.findall(r"(\w+)\s+(\d{3})\s+exit (\d+)", errors.__doc__ or "")
    return {name: (int(status), int(code)) for name, status, code in rows}


def test_the_documented_table_is_the_classes() -> None:
    documented = _documented()
    assert set(documented) == {cls.__name__ for cls in CLASSES}
    for cls in CLASSES:
        assert documented[cls.__name__] == (cls.http_status, cls.exit_code), cls.__name__


def test_every_class_has_its_own_code_and_an_error_status() -> None:
    codes = [cls.code for cls in CLASSES]
    assert len(codes) == len(set(codes))  # else error_class() could not tell them apart
    for cls in CLASSES:
        assert 400 <= cls.http_status <= 599 and cls.exit_code not in (0, 130), cls.__name__
        assert re.fullmatch(r"[a-z_]+", cls.code), cls.code


def test_a_refinement_elsewhere_keeps_its_table_class_code() -> None:
    """Another module's subclass (imported here) answers as the table's class it refines."""
    from genserve.batch.rows import ManifestInvalid

    assert ManifestInvalid.code == InvalidInput.code and error_class(ManifestInvalid.code) is InvalidInput
    assert all(error_class(cls.code) in CLASSES for cls in all_error_classes(GenserveError))


def test_the_callers_mistakes_are_invalid_input_and_exit_2() -> None:
    """`except InvalidInput` catches every rule the caller broke, and the CLI exits 2 for each."""
    for cls in all_error_classes(InvalidInput):
        assert issubclass(cls, InvalidInput) and cls.exit_code == 2
        assert 400 <= cls.http_status < 500, cls.__name__
    assert error_class("not_found") is NotFound and issubclass(NotFound, InvalidInput)


@pytest.mark.parametrize("cls", CLASSES, ids=lambda cls: cls.__name__)
def test_error_class_finds_each_class_by_its_code(cls: type[GenserveError]) -> None:
    assert error_class(cls.code) is cls
    exc = cls("it broke")
    assert error_class(exc.to_dict()["error"]) is cls  # the body a door sends back names the class


@pytest.mark.parametrize("code", [None, "", "no_such_code", "INVALID_INPUT"])
def test_an_unknown_code_is_the_base_error(code: str | None) -> None:
    assert error_class(code) is GenserveError


def test_the_message_is_argument_rule_value_and_fix() -> None:
    exc = InvalidInput(
        "must be between 1 and 500", argument="steps", value=900, fix="e.g. steps=50 (the default)"
    )
    assert (
        exc.message
        == str(exc)
        == "steps: must be between 1 and 500; got 900. Fix: e.g. steps=50 (the default)"
    )
    assert (exc.argument, exc.value, exc.fix, exc.reason) == (
        "steps",
        900,
        "e.g. steps=50 (the default)",
        "must be between 1 and 500",
    )
    assert GenserveError("the disk is full").message == "the disk is full"
    assert InvalidInput("is required", argument="image").message == "image: is required"
    assert GenserveError("no model", fix="download it").message == "no model. Fix: download it"


@pytest.mark.parametrize(("value", "shown"), [(0, "got 0"), (False, "got False"), ("", "got ''")])
def test_a_falsy_value_is_still_shown(value: object, shown: str) -> None:
    assert InvalidInput("is too small", argument="x", value=value).message == f"x: is too small; {shown}"


def test_a_long_value_is_cut_to_80_characters() -> None:
    exc = InvalidInput("is too long", argument="prompt", value="a" * 500)
    got = exc.message.split("got ", 1)[1]
    assert len(got) == 80 and got.endswith("...") and got.startswith("'aaa")
    short = InvalidInput("is wrong", argument="prompt", value="b" * 78)  # repr: 80 characters, kept
    assert short.message.endswith("got '" + "b" * 78 + "'")


def test_the_message_stays_on_one_line() -> None:
    exc = InvalidInput("is not\nallowed", argument="name", value="two\nlines", fix="one\nline")
    assert "\n" not in exc.message
    assert exc.message == r"name: is not allowed; got 'two\nlines'. Fix: one line"


def test_the_error_body_carries_the_fields_a_client_reads() -> None:
    exc = Conflict("this id is taken", argument="job_id", value="ci-7", fix="choose a new id")
    assert exc.to_dict() == {
        "error": "conflict",
        "message": "job_id: this id is taken; got 'ci-7'. Fix: choose a new id",
        "argument": "job_id",
        "fix": "choose a new id",
    }
    assert GenserveError("boom").to_dict() == {"error": "internal_error", "message": "boom"}


def test_missing_extra_names_the_package_and_the_install_command() -> None:
    exc = missing_extra("diffusers", "video")
    assert isinstance(exc, BackendUnavailable) and exc.http_status == 503 and exc.exit_code == 4
    assert "'diffusers'" in exc.message and exc.fix == "pip install 'genserve[video]'"


class OutOfMemoryError(RuntimeError):
    """Named like torch.cuda.OutOfMemoryError, which is recognised without importing torch."""


@pytest.mark.parametrize(
    ("exc", "oom"),
    [
        (OutOfMemory("the ladder ran out"), True),
        (MemoryError(), True),
        (OutOfMemoryError("CUDA error"), True),
        (RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB"), True),
        (RuntimeError("MPS backend out of memory (MPS allocated: 9 GB)"), True),
        (RuntimeError("CUDA error: device-side assert triggered"), False),
        (ValueError("not enough memory for the preview cache"), False),
        (InvalidInput("is too large", argument="image"), False),
    ],
)
def test_out_of_memory_is_told_from_other_failures(exc: BaseException, oom: bool) -> None:
    assert is_out_of_memory(exc) is oom
