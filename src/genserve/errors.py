"""One exception tree for genserve, and the one table of what each outcome means at every door.

Each class carries its HTTP status, its CLI exit code and its ``code`` (the ``error`` field of a
failed job's record), so a failure reads the same wherever it is met: `genserve run` (in process),
`genserve submit --wait` (a failed job's ``error`` mapped back through :func:`exit_code_of`),
`genserve gate`, `genserve batch` and the REST API.

    GenserveError                    500  exit 1   something failed that is not the caller's fault
    ├── InvalidInput                 422  exit 2   a parameter or input breaks a rule (names it, says the fix)
    │   ├── MediaError               415  exit 2   a file is not the media it must be
    │   ├── MediaTooLarge            413  exit 2   a file or image is over a size limit
    │   ├── NotFound                 404  exit 2   unknown task/backend/job/artifact/route, missing file
    │   ├── MethodNotAllowed         405  exit 2   the route exists but not for this HTTP method
    │   └── RangeNotSatisfiable      416  exit 2   a byte range outside the artifact
    ├── BackendUnavailable           503  exit 4   an extra, a model or a device is missing (says what to do)
    ├── OutOfMemory                  507  exit 5   out of memory, after the degrade ladder ran out
    ├── JobTimeout                   504  exit 3   a load or a run took longer than its limit
    ├── Canceled                     409  exit 6   the job was canceled
    ├── Conflict                     409  exit 2   the request conflicts with the state of a job
    ├── Unauthorized                 401  exit 7   missing or wrong API key
    ├── Forbidden                    403  exit 7   client address not allowed
    ├── RateLimited                  429  exit 8   too many jobs at once for this key
    └── ServerUnreachable            503  exit 3   (client side) the service did not answer

Outcomes that are no error of genserve's have their codes in :class:`ExitCode` beside these: 0 ok,
9 a gate found a regression, 10 a batch had more failed rows than allowed, 130 interrupted.

Messages are one line and teach: the argument, the rule, the value, and the fix.
"""

from __future__ import annotations

import copy
from enum import IntEnum
from typing import Any, ClassVar, Self


class ExitCode(IntEnum):
    """Every exit code of the CLI (README, "CLI"): the same code for the same outcome in every command."""

    OK = 0
    INTERNAL = 1  # GenserveError: a failure that is not the caller's fault
    INVALID_INPUT = 2  # InvalidInput, Conflict, and click's usage errors
    TIMEOUT = 3  # JobTimeout; also a --wait --timeout that ran out
    UNREACHABLE = 3  # ServerUnreachable: the server did not answer
    BACKEND_UNAVAILABLE = 4
    OUT_OF_MEMORY = 5
    CANCELED = 6
    ACCESS_DENIED = 7  # Unauthorized, Forbidden
    RATE_LIMITED = 8
    GATE_FAILED = 9  # `genserve gate`: a check failed (the outputs regressed)
    ROWS_FAILED = 10  # `genserve batch`: more failed rows than --max-failures, or rows left unfinished
    INTERRUPTED = 130  # Ctrl-C or SIGTERM


class GenserveError(Exception):
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = ExitCode.INTERNAL
    code: ClassVar[str] = "internal_error"

    def __init__(
        self,
        message: str,
        *,
        argument: str | None = None,
        value: Any = None,
        fix: str | None = None,
    ) -> None:
        self.argument = argument
        self.value = value
        self.fix = fix
        self.reason = message
        super().__init__(self._compose())

    def _compose(self) -> str:
        parts = []
        if self.argument:
            parts.append(f"{self.argument}: {self.reason}")
        else:
            parts.append(self.reason)
        if self.value is not None:
            shown = repr(self.value)
            if len(shown) > 80:
                shown = shown[:77] + "..."
            parts.append(f"got {shown}")
        msg = "; ".join(parts)
        if self.fix:
            msg += f". Fix: {self.fix}"
        return msg.replace("\n", " ")

    def with_fix(self, fix: str) -> Self:
        """The same error with ``fix`` in place of its own (a door that words it in its terms)."""
        clone = copy.copy(self)
        clone.fix = fix
        clone.args = (clone._compose(),)
        return clone

    @property
    def message(self) -> str:
        return str(self)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"error": self.code, "message": self.message}
        if self.argument:
            data["argument"] = self.argument
        if self.fix:
            data["fix"] = self.fix
        return data


class InvalidInput(GenserveError):
    http_status = 422
    exit_code = ExitCode.INVALID_INPUT
    code = "invalid_input"


class MediaError(InvalidInput):
    http_status = 415
    code = "unsupported_media"


class MediaTooLarge(InvalidInput):
    http_status = 413
    code = "too_large"


class NotFound(InvalidInput):
    http_status = 404
    code = "not_found"


class MethodNotAllowed(InvalidInput):
    http_status = 405
    code = "method_not_allowed"


class RangeNotSatisfiable(InvalidInput):
    http_status = 416
    code = "range_not_satisfiable"


class BackendUnavailable(GenserveError):
    http_status = 503
    exit_code = ExitCode.BACKEND_UNAVAILABLE
    code = "backend_unavailable"


class OutOfMemory(GenserveError):
    http_status = 507
    exit_code = ExitCode.OUT_OF_MEMORY
    code = "out_of_memory"


class JobTimeout(GenserveError):
    http_status = 504
    exit_code = ExitCode.TIMEOUT
    code = "timeout"


class Canceled(GenserveError):
    http_status = 409
    exit_code = ExitCode.CANCELED
    code = "canceled"


class Conflict(GenserveError):
    http_status = 409
    exit_code = ExitCode.INVALID_INPUT
    code = "conflict"


class Unauthorized(GenserveError):
    http_status = 401
    exit_code = ExitCode.ACCESS_DENIED
    code = "unauthorized"


class Forbidden(GenserveError):
    http_status = 403
    exit_code = ExitCode.ACCESS_DENIED
    code = "forbidden"


class RateLimited(GenserveError):
    http_status = 429
    exit_code = ExitCode.RATE_LIMITED
    code = "rate_limited"


class ServerUnreachable(GenserveError):
    http_status = 503
    exit_code = ExitCode.UNREACHABLE
    code = "server_unreachable"


def missing_extra(module: str, extra: str) -> BackendUnavailable:
    """The error for an optional dependency that is not installed."""
    return BackendUnavailable(
        f"needs the optional package '{module}', which is not installed",
        fix=f"pip install 'genserve[{extra}]'",
    )


def is_out_of_memory(exc: BaseException) -> bool:
    """True for genserve's own OOM and for torch's CUDA/MPS OOM, without importing torch."""
    if isinstance(exc, OutOfMemory | MemoryError):
        return True
    name = type(exc).__name__
    if name == "OutOfMemoryError":
        return True
    text = str(exc)
    return "CUDA out of memory" in text or "MPS backend out of memory" in text


def all_error_classes(cls: type[GenserveError]) -> list[type[GenserveError]]:
    found = [cls]
    for sub in cls.__subclasses__():
        found += all_error_classes(sub)
    return found


def error_class(code: str | None) -> type[GenserveError]:
    """The exception class for an error code (e.g. from a result's ``error`` field)."""
    for cls in all_error_classes(GenserveError):
        if cls.code == code:
            return cls
    return GenserveError


def exit_code_of(error_code: str | None) -> ExitCode:
    """The exit code of a failed job's ``error`` code (``out_of_memory`` -> 5): the job's record
    holds the code, not the exception, so a job that failed on a server exits as it does in process."""
    return ExitCode(error_class(error_code).exit_code)
