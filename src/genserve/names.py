"""Names that come from clients, checked against allowlists before they reach the filesystem or the store.

An allowed name holds no '/' or '\\' and starts with a letter or digit, so it is never '.', '..' or a
path; used as one path component it stays inside its folder.

Job ids, form field names, artifact names, uploaded file names and one-line text fields (task,
backend, git branch, ...) all pass through here first. Stored files are named by genserve only;
a client's file name is kept as a label, never used as a path.
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath, PureWindowsPath

from genserve.errors import InvalidInput, NotFound

JOB_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
FIELD_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
ARTIFACT_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")
# C0 controls and DEL; tab, newline and carriage return are fine inside free text (prompts)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_IN_TEXT = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
MAX_FILENAME = 255
MAX_LINE = 1000


def check_job_id(job_id: str) -> str:
    if not JOB_ID_RE.match(job_id):
        raise InvalidInput(
            "must be 1-64 letters, digits, '-', '_' or '.', starting with a letter or digit",
            argument="job_id",
            value=job_id,
            fix="e.g. build-1234-thumbnail",
        )
    return job_id


def check_field_name(name: str) -> str:
    """A multipart field name: a lower-case identifier (a parameter or an input name)."""
    if not FIELD_RE.match(name):
        raise InvalidInput(
            "a form field name must be a lower-case identifier (letters, digits, '_'; at most 64)",
            argument="form field",
            value=name,
            fix="name file parts after the task's inputs, e.g. -F image=@photo.jpg",
        )
    return name


def check_artifact_name(name: str) -> str:
    if not ARTIFACT_RE.match(name):
        raise NotFound(
            "no such artifact (names are letters, digits, '-', '_' and '.')",
            argument="name",
            value=name,
            fix="the job's outputs name the artifacts it has",
        )
    return name


def client_filename(filename: str | None, fallback: str) -> str:
    """The base name of a client's file name (a label only); control characters are refused."""
    if not filename:
        return fallback
    if _CONTROL.search(filename):
        raise InvalidInput(
            "a file name may not contain control characters",
            argument="filename",
            value=filename,
            fix="rename the file, e.g. photo.jpg",
        )
    base = PureWindowsPath(PurePosixPath(filename).name).name  # both separators
    base = base[-MAX_FILENAME:].strip() or fallback
    return fallback if base in (".", "..") else base


def check_line(argument: str, value: str, max_length: int = MAX_LINE) -> str:
    """A one-line text field (task, backend, model, device, git metadata, webhook settings)."""
    if _CONTROL.search(value):
        raise InvalidInput(
            "may not contain control characters (tabs, newlines, NUL, ...)",
            argument=argument,
            value=value,
            fix="send it on one line, without control characters",
        )
    if len(value) > max_length:
        raise InvalidInput(
            f"is longer than {max_length} characters", argument=argument, value=value, fix="shorten it"
        )
    return value


def check_text(argument: str, value: str) -> str:
    """Free text (a prompt): line breaks and tabs are fine, other control characters are not."""
    if _CONTROL_IN_TEXT.search(value):
        raise InvalidInput(
            "may not contain control characters other than tab and line breaks",
            argument=argument,
            value=value,
            fix="remove NUL and other control characters",
        )
    return value
