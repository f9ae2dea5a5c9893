"""Jobs: the request, its validation, and the runner every door and worker uses."""

from genserve.jobs.request import JobRequest, PreparedJob, prepare
from genserve.jobs.runner import BackendCache, run_job

__all__ = ["BackendCache", "JobRequest", "PreparedJob", "prepare", "run_job"]
