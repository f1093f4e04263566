"""The default mode's audit writer: entries committed in batches, off the caller's thread.

In the default mode `track` builds the message and puts it on this writer's bounded queue; the
writer's thread takes whatever has gathered (up to `max_batch`), commits it to the audit log in
one transaction, and only then hands the committed messages on to the Segment client. So the
design's promise holds — nothing leaves the process before the log holds it — while the caller
pays for a queue put instead of a commit (`make bench` measures both modes).

What it gives up, and how it says so:

- messages still on this queue when the process is killed were never written; README
  "Performance" measures how many a `kill -9` loses. Clients built with `strict=True` write on
  the caller's thread and lose nothing that returned;
- a batch the database refuses for good (an outage outlasting the retries) is neither audited nor
  sent: it is logged at ERROR, counted in `event_catalog_audit_lost`, and passed to the client's
  `on_error` handler with an `AuditWriteError`; a record the database refuses by its content (a
  value JSON cannot encode, given to `deliver`; a NUL character on PostgreSQL; a reused messageId)
  is split from its batch and lost alone, said the same way (`analytics.audit_failures`);
- a full queue is not this module's business: the client writes that call on the caller's thread
  instead, so a slow database slows callers rather than growing memory;
- `flush` and `close` (at shutdown and at exit) wait as long as the writer makes progress, but no
  more than `SHUTDOWN_TIMEOUT` without any (`analytics.patience`, whose budget a client's flush and
  shutdown share with the Segment client's stages): what a database that does not answer keeps
  from being written by then is counted at ERROR and left to the thread, lost if the process ends
  first.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import queue
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from multiprocessing import util as multiprocessing_util

from sqlalchemy.exc import SQLAlchemyError

from analytics.audit import AuditRecord, AuditStore
from analytics.audit_failures import is_message_fault, reason
from analytics.metrics import AUDIT_BATCH_SIZE, AUDIT_LOST, AUDIT_QUEUE_DEPTH, AUDIT_WRITE_SECONDS
from analytics.patience import SHUTDOWN_TIMEOUT, Patience, join_within

log = logging.getLogger(__name__)

RETRY_DELAYS = (0.05, 0.25, 1.0, 4.0)
"""Seconds between attempts at a batch the database refused for a passing reason (a restart, a
failover); about five seconds in all before the batch is given up."""

HandOff = Callable[[list[AuditRecord]], None]
"""What receives each committed batch: the client's hand-over to the Segment client."""

LostHandler = Callable[[Sequence[AuditRecord], Exception], None]
"""What is told about records that could not be written (and so were not sent)."""


class AuditWriter:
    """A bounded queue of records and the thread that commits them in batches.

    Args:
        store: the audit log.
        hand_off: called with each batch once it is committed, on the writer's thread.
        on_lost: called with records the database refused for good; it does not raise (the client's
            guards the application's handler).
        max_queue_size: the most records waiting; `submit` refuses beyond it.
        max_batch: the most records per transaction.
        retry_delays: the waits between attempts at a batch refused for a passing reason.
    """

    def __init__(
        self,
        store: AuditStore,
        hand_off: HandOff,
        on_lost: LostHandler,
        *,
        max_queue_size: int,
        max_batch: int = 500,
        retry_delays: Sequence[float] = RETRY_DELAYS,
    ) -> None:
        self.store = store
        self.hand_off = hand_off
        self.on_lost = on_lost
        self.max_queue_size = max_queue_size
        self.max_batch = max_batch
        self.retry_delays = tuple(retry_delays)
        self._closed = False
        self._closing = threading.Lock()
        self._start()
        atexit.register(self.close)
        self._close_at_exit()
        _WRITERS.add(self)
        multiprocessing_util.register_after_fork(self, AuditWriter._close_at_exit)

    def _start(self) -> None:
        self.queue: queue.Queue[AuditRecord | None] = queue.Queue(self.max_queue_size)
        self._stop_queued = False
        self._thread = threading.Thread(target=self._run, name="event-catalog-audit-writer", daemon=True)
        self._thread.start()

    def _close_at_exit(self) -> None:
        # A fork-mode multiprocessing worker ends with os._exit, skipping atexit, once it has run
        # multiprocessing's own exit hooks; as it starts it forgets those of the process it was
        # forked from, so a worker registers again (`register_after_fork`).
        if not self._closed:
            self._exit_hook = multiprocessing_util.Finalize(None, self.close, exitpriority=0)

    def _after_fork(self) -> None:
        # A forked child (a pre-forking server's worker) inherits the queue but not the thread
        # that drains it: it starts its own, on a queue of its own, so nothing is written twice.
        self._closing = threading.Lock()
        if not self._closed:
            self._start()

    def submit(self, record: AuditRecord) -> bool:
        """Queue a record for the next batch; False when the queue is full or the writer closed.

        Under the same lock as `close`, so that no record lands behind the stop sign, where the
        thread would never write it (the caller, told False, writes it on its own thread).
        """
        with self._closing:
            if self._closed or not self.running:
                return False
            try:
                self.queue.put_nowait(record)
            except queue.Full:
                return False
        return True

    @property
    def running(self) -> bool:
        """Whether this process has a thread draining the queue (False once closed)."""
        return self._thread.is_alive()

    def depth(self) -> int:
        """Records waiting to be written."""
        return self.queue.qsize()

    def flush(self, patience: Patience | None = None) -> None:
        """Wait until every record queued so far is written (or given up) and handed on, while there
        is `patience` (by default `SHUTDOWN_TIMEOUT` seconds without progress), as `close` does."""
        if self._thread.is_alive():
            self._wait(functools.partial(join_within, self.queue), patience or self.patience())

    def close(self, patience: Patience | None = None) -> None:
        """Write what is queued, then stop the thread, while there is `patience` (by default
        `SHUTDOWN_TIMEOUT` seconds without progress).

        Registered to run, until it has run, when the process ends normally: at interpreter exit,
        and at the end of a multiprocessing worker, which skips that. A database that holds a lock
        or stops answering would otherwise hold the host's shutdown, or its exit, for as long: past
        the timeout, what is not written yet is counted in the log and the thread left behind (a
        daemon, which does not keep the process alive). A backlog being written is waited for.
        """
        patience = patience or self.patience()
        with self._closing:
            already, self._closed = self._closed, True
        if not already and self._thread.is_alive():
            # Outside the lock: a full queue must not hold callers, whom `_closed` now turns away.
            self._put_stop(patience)

        def stopped(seconds: float | None) -> bool:
            self._thread.join(seconds)
            return not self._thread.is_alive()

        self._wait(stopped, patience)
        atexit.unregister(self.close)
        self._exit_hook.cancel()

    def patience(self, timeout: float | None = SHUTDOWN_TIMEOUT) -> Patience:
        """A wait of `timeout` seconds without progress (None: no limit) on this writer alone."""
        return Patience(timeout, [self.unfinished])

    def unfinished(self) -> int:
        """Records queued and not yet written (or given up) and handed on: the work a flush waits for."""
        return self.queue.unfinished_tasks

    def _wait(self, done_within: Callable[[float | None], bool], patience: Patience) -> None:
        """Wait while there is patience; count at ERROR what a database that does not answer kept
        from being written."""
        if patience.wait(done_within):
            return
        with self.queue.mutex:
            left = self.queue.unfinished_tasks - int(self._stop_queued)
        log.error(
            "the audit writer made no progress for %ss: %s messages not audited yet, not sent, "
            "lost if the process ends before the audit database answers",
            patience.stall,
            left,
        )

    def _put_stop(self, patience: Patience) -> None:
        """Queue the stop sign behind the records, unless the queue stays full while there is patience."""
        try:
            self.queue.put(None, timeout=patience.left())
        except queue.Full:
            return
        self._stop_queued = True

    def _run(self) -> None:
        while True:
            first = self.queue.get()
            batch: list[AuditRecord] = []
            stop = first is None
            if first is not None:
                batch.append(first)
            while not stop and len(batch) < self.max_batch:
                try:
                    item = self.queue.get_nowait()
                except queue.Empty:
                    break
                stop = item is None
                if item is not None:
                    batch.append(item)
            try:
                self._write(batch)
            except Exception:
                # The thread must outlive any one batch's bug, or every later call would be lost.
                log.exception("the audit writer failed on a batch of %s", len(batch))
            finally:
                for _ in range(len(batch) + stop):
                    self.queue.task_done()
                AUDIT_QUEUE_DEPTH.set(self.queue.qsize())
            if stop:
                return

    def _write(self, batch: list[AuditRecord]) -> None:
        if not batch:
            return
        AUDIT_BATCH_SIZE.observe(len(batch))
        started = time.perf_counter()
        committed = self._commit(batch)
        AUDIT_WRITE_SECONDS.labels(mode="batched").observe(time.perf_counter() - started)
        if committed:
            self.hand_off(committed)

    def _commit(self, batch: list[AuditRecord]) -> list[AuditRecord]:
        """Write the batch; return what was committed."""
        try:
            return batch if self._record_with_retries(batch) else []
        except Exception as exc:  # one record's fault must not cost the whole batch
            # One refused row (a reused messageId, a NUL PostgreSQL cannot store) refuses the whole
            # batch, as does one record that cannot be written at all (a value JSON cannot
            # encode): write them singly, so that only the faulty one is lost, and said to be.
            if len(batch) == 1:
                self._lose(batch, exc)
                return []
            return [record for record in batch if self._commit_one(record)]

    def _commit_one(self, record: AuditRecord) -> bool:
        try:
            self.store.record_many([record])
        except Exception as exc:  # whatever it is, the record is lost: say so
            self._lose([record], exc)
            return False
        return True

    def _record_with_retries(self, batch: list[AuditRecord]) -> bool:
        """Whether the batch was written; a refusal that outlasts the retries loses it.

        Raises:
            Exception: a message's own fault (`is_message_fault`), for `_commit` to split the batch.
        """
        try:
            self._attempt(batch)
        except SQLAlchemyError as exc:
            if is_message_fault(exc):
                raise
            self._lose(batch, exc)
            return False
        return True

    def _attempt(self, batch: list[AuditRecord]) -> None:
        for delay in self.retry_delays:
            try:
                self.store.record_many(batch)
                return
            except SQLAlchemyError as exc:
                if is_message_fault(exc):
                    raise
                log.warning(
                    "audit write of %s messages failed, retrying in %ss: %s", len(batch), delay, reason(exc)
                )
                time.sleep(delay)
        self.store.record_many(batch)

    def _lose(self, records: Sequence[AuditRecord], error: Exception) -> None:
        log.error("audit log refused %s messages: not audited, not sent: %s", len(records), reason(error))
        AUDIT_LOST.inc(len(records))
        self.on_lost(records, error)


_WRITERS: weakref.WeakSet[AuditWriter] = weakref.WeakSet()
"""The writers to restart in a forked child; weakly, so that a client shut down can be collected."""


def _restart_in_child() -> None:
    for writer in list(_WRITERS):
        writer._after_fork()


os.register_at_fork(after_in_child=_restart_in_child)
