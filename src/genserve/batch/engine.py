"""Running a batch: find each row's job, then submit, follow and download with N rows in flight.

The target (a server, or this process) is the only record: each row's job ids are derived from
the row, so a run first asks which attempt of each row exists and in what state, then

    no job yet                 -> submit attempt 1 (PUT: the same request again is the same job)
    queued or running          -> follow it (an earlier run was stopped or detached)
    succeeded                  -> nothing runs; its outputs are downloaded unless already here
    canceled                   -> attempt N+1 is submitted (it was stopped, e.g. by Ctrl-C)
    failed                     -> kept as it is; with retry_failed, attempt N+1 is submitted

Killing the client anywhere and running again therefore creates no second job for a row. Ctrl-C
(or SIGTERM) stops submitting and cancels the unfinished jobs of the batch, unless told to leave
them running. A server that stops answering ends the run (ServerUnreachable).
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from genserve.batch import ids
from genserve.batch.board import ACTIVE, FINISHED, Board, RowState
from genserve.batch.target import Target
from genserve.errors import GenserveError, RateLimited, ServerUnreachable

log = logging.getLogger("genserve.batch")

CANCEL_WAIT_S = 15.0  # after Ctrl-C: how long canceled jobs get to report that they stopped
RATE_LIMIT_WAIT_S = 2.0


@dataclass
class Options:
    concurrency: int = 4  # jobs in flight at once
    retry_failed: bool = False
    submit: bool = True  # False: follow what exists, submit nothing (`genserve batch status`)
    wait: bool = True  # False: submit and return (--detach), or report as things stand
    cancel_on_interrupt: bool = True  # Ctrl-C cancels the unfinished jobs (not with --detach / status)


class BatchRun:
    def __init__(self, board: Board, target: Target, out_dir: Path, options: Options) -> None:
        self.board = board
        self.target = target
        self.out_dir = out_dir
        self.options = options
        self.stop = threading.Event()
        self.fatal: GenserveError | None = None
        self.interrupted = False
        self._left = 0
        self._left_lock = threading.Lock()
        self._all_done = threading.Event()

    # --- 1. which attempt of each row exists, and in what state --------------------------------

    def discover(self) -> None:
        """One listing of the batch's jobs; each row's latest attempt is the highest of its ids there."""
        known = self.target.batch_jobs(self.board.batch_id)
        for state in self.board.states:
            attempt = 0
            while attempt < ids.MAX_ATTEMPTS and state.row.job_id(self.board.batch_id, attempt + 1) in known:
                attempt += 1
            if attempt:
                job = known[state.row.job_id(self.board.batch_id, attempt)]
                state.attempt, state.job_id, state.job = attempt, job["id"], job
                state.status, state.error, state.message = job["status"], job.get("error"), job.get("message")
                state.earlier = job["status"] in FINISHED
            state.since = self.board.clock()

    # --- 2. what to do with each row -----------------------------------------------------------

    def plan(self) -> list[tuple[RowState, str]]:
        """(row, "submit" | "follow" | "fetch"): rows already in flight first, then the manifest's order."""
        follow, fetch, submit = [], [], []
        plan = {"submit": 0, "follow": 0, "succeeded": 0, "failed": 0, "retry": 0, "not_submitted": 0}
        for state in self.board.states:
            if state.status in ACTIVE:
                plan["follow"] += 1
                follow.append((state, "follow"))
            elif state.status == "succeeded":
                plan["succeeded"] += 1
                fetch.append((state, "fetch"))
            elif state.status in ("failed", "canceled"):
                # NOTE: a canceled job was stopped (Ctrl-C), not refused: the next run goes on with it
                again = self.options.retry_failed or state.status == "canceled"
                if again and self.options.submit and state.attempt < ids.MAX_ATTEMPTS:
                    plan["retry"] += 1
                    state.status, state.earlier, state.error, state.message = "pending", False, None, None
                    state.attempt += 1
                    submit.append((state, "submit"))
                else:
                    plan["failed"] += 1
            elif self.options.submit:
                plan["submit"] += 1
                state.attempt = 1
                submit.append((state, "submit"))
            else:
                plan["not_submitted"] += 1
                state.status = "not_submitted"
        self.board.plan = {k: v for k, v in plan.items() if v}
        return follow + fetch + submit

    # --- 3. N at a time ------------------------------------------------------------------------

    def run(self) -> None:
        """Discover, plan and work through the batch; returns when every row is settled, on Ctrl-C
        (after canceling, unless told not to), or when the target stops answering."""
        self.discover()
        work = self.plan()
        if self.board.reporter is not None:
            self.board.reporter.start(self.board)
        try:
            self._work(work)
        finally:
            self._settle()
            if self.board.reporter is not None:
                self.board.reporter.stop(self.board)

    def _work(self, work: list[tuple[RowState, str]]) -> None:
        if not work:
            return
        todo: queue.SimpleQueue[tuple[RowState, str]] = queue.SimpleQueue()
        for item in work:
            todo.put(item)
        self._left = len(work)
        # NOTE: daemon threads, not a pool: a follower blocked on an event stream must not keep the
        # process alive once the run is over (Ctrl-C with --detach, an unreachable server)
        for i in range(min(self.options.concurrency, len(work))):
            threading.Thread(target=self._worker, args=(todo,), name=f"batch-{i}", daemon=True).start()
        try:
            while not self._all_done.wait(0.2):
                if self.fatal is not None:
                    return
        except KeyboardInterrupt:
            self.interrupt()

    def interrupt(self) -> None:
        """Stop submitting; cancel the jobs in flight (unless they are to be left running) and give
        them a moment to report that they stopped."""
        self.interrupted = True
        self.stop.set()
        if not self.options.cancel_on_interrupt:
            return
        for state in list(self.board.states):
            if state.status in ACTIVE and state.job_id:
                try:
                    self.target.cancel(state.job_id)
                except GenserveError as exc:
                    log.warning("could not cancel %s: %s", state.job_id, exc.message)
        with contextlib.suppress(KeyboardInterrupt):  # a second Ctrl-C: stop waiting
            self._all_done.wait(CANCEL_WAIT_S)

    def _worker(self, todo: queue.SimpleQueue[tuple[RowState, str]]) -> None:
        while True:
            try:
                state, kind = todo.get_nowait()
            except queue.Empty:
                return
            try:
                self._process(state, kind)
            except ServerUnreachable as exc:
                self.fatal = self.fatal or exc
                self.stop.set()
            except GenserveError as exc:
                self.board.set(state, status="failed", error=exc.code, message=exc.message)
            except Exception as exc:  # a bug must not hang the batch: the row fails, the rest go on
                log.exception("row %s", state.row.id)
                self.board.set(
                    state, status="failed", error="internal_error", message=f"{type(exc).__name__}: {exc}"
                )
            finally:
                with self._left_lock:
                    self._left -= 1
                    if self._left == 0:
                        self._all_done.set()

    def _process(self, state: RowState, kind: str) -> None:
        if kind == "submit":
            if self.stop.is_set():
                return  # never submitted: settled as not_submitted
            self._submit(state)
        if state.status in ACTIVE:
            if not self.options.wait or (self.stop.is_set() and not self.options.cancel_on_interrupt):
                return
            if not self._follow(state):
                return
        if state.status == "succeeded" or (state.job or {}).get("status") == "succeeded":
            self._fetch(state)

    def _submit(self, state: RowState) -> None:
        job_id = state.row.job_id(self.board.batch_id, state.attempt)
        while True:
            try:
                job = self.target.put(job_id, state.row, self.board.batch_id)
                break
            except RateLimited:  # too many unfinished jobs for this key: wait for a slot
                if self.stop.wait(RATE_LIMIT_WAIT_S):
                    return
        status = job["status"]
        self.board.set(
            state,
            job_id=job["id"],
            job=job,
            status=status,
            error=job.get("error"),
            message=job.get("message"),
        )
        if self.stop.is_set() and self.options.cancel_on_interrupt and status in ACTIVE:
            self.target.cancel(job["id"])  # submitted while Ctrl-C was being handled

    def _follow(self, state: RowState) -> bool:
        """Follow the job to its end; True when it succeeded (its outputs are fetched next)."""
        assert state.job_id is not None
        for event in self.target.events(state.job_id):
            kind = event.get("type")
            if kind == "started":
                self.board.set(state, status="running")
            elif kind == "requeued":
                self.board.set(state, status="queued")
            elif kind == "progress" and isinstance(event.get("step"), int):
                if state.status != "running":
                    self.board.set(state, status="running")
                self.board.progress(state, event.get("step"), event.get("total"))
            elif kind == "completed":
                break
        job = self.target.get(state.job_id)
        if job["status"] == "succeeded":
            state.job = job  # the row says "succeeded" once its outputs are here (_fetch)
            return True
        self.board.set(
            state, job=job, status=job["status"], error=job.get("error"), message=job.get("message")
        )
        return False

    def _fetch(self, state: RowState) -> None:
        """The outputs into <out>/<row id>/, unless the same bytes are there already."""
        job = state.job or {}
        outputs = list((job.get("result") or {}).get("outputs") or [])
        folder = self.out_dir / state.row.id
        if not all(_same_file(folder / Path(o["name"]).name, o) for o in outputs):
            self.target.download(job, folder)
            for output in outputs:
                if not _same_file(folder / Path(output["name"]).name, output):
                    raise GenserveError(
                        f"the download of {output['name']} does not match its sha256",
                        argument=state.row.id,
                        fix="run the batch again to download it again",
                    )
        local = [
            {
                "name": o["name"],
                "path": f"{state.row.id}/{Path(o['name']).name}",
                "media_type": o.get("media_type"),
                "bytes": o.get("bytes"),
                "sha256": o.get("sha256"),
            }
            for o in outputs
        ]
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "result.json").write_text(json.dumps(job, indent=2))  # as genserve.Client.download
        self.board.set(state, outputs=local, status="succeeded", error=None, message=None)

    # --- 4. the end ----------------------------------------------------------------------------

    def _settle(self) -> None:
        """Rows never submitted say so; rows still in flight are read once more (a canceled job may
        have stopped meanwhile)."""
        for state in self.board.states:
            if state.status == "pending":
                self.board.set(state, status="not_submitted")
            elif state.status in ACTIVE and state.job_id and self.fatal is None:
                try:
                    job = self.target.get(state.job_id)
                except GenserveError:
                    continue
                if job["status"] == "succeeded":
                    state.job = job
                    try:
                        self._fetch(state)
                    except GenserveError:
                        continue
                elif job["status"] != state.status:
                    self.board.set(
                        state,
                        job=job,
                        status=job["status"],
                        error=job.get("error"),
                        message=job.get("message"),
                    )


def _same_file(path: Path, output: dict[str, Any]) -> bool:
    if not path.is_file():
        return False
    if output.get("bytes") is not None and path.stat().st_size != output["bytes"]:
        return False
    return output.get("sha256") is None or ids.file_sha256(path) == output["sha256"]
