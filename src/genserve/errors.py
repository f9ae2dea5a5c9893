"""One exception tree for genserve; every door maps it once.

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

Messages are one line and teach: the argument, the rule, the value, and the fix.
"""

from __future__ import annotations

from typing import Any, ClassVar


class GenserveError(Exception):
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1
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
    exit_code = 2
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
    exit_code = 4
    code = "backend_unavailable"


class OutOfMemory(GenserveError):
    http_status = 507
    exit_code = 5
    code = "out_of_memory"


class JobTimeout(GenserveError):
    http_status = 504
    exit_code = 3
    code = "timeout"


class Canceled(GenserveError):
    http_status = 409
    exit_code = 6
    code = "canceled"


class Conflict(GenserveError):
    http_status = 409
    exit_code = 2
    code = "conflict"


class Unauthorized(GenserveError):
    http_status = 401
    exit_code = 7
    code = "unauthorized"


class Forbidden(GenserveError):
    http_status = 403
    exit_code = 7
    code = "forbidden"


class RateLimited(GenserveError):
    http_status = 429
    exit_code = 8
    code = "rate_limited"


class ServerUnreachable(GenserveError):
    http_status = 503
    exit_code = 3
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
