"""Application processes for the multi-process tests: real children sending through `analytics`.

Each child is `sys.executable -c PROGRAM`: it calls `analytics.init` on the shared database, waits
for the parent's go (so that the processes really overlap), sends from several threads, shuts the
library down and prints a JSON report as its last line: its pid, every messageId it sent, and the
receipts that were not a plain `pending`. Any warning or error it logs (a locked database
included) lands on its stderr, which the parent requires to be empty.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent

PROGRAM = """
import json, os, sys, threading
import analytics
from analytics.scopes import ClusterScope
from analytics.tracks import ClusterProvisioningSuccess

number, threads, per_thread, mode = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
analytics.init(os.environ["SEGMENT_WRITE_KEY"], host=os.environ["SEGMENT_HOST"],
               database_url=os.environ["DATABASE_URL"], strict=mode == "strict")
sent, problems, lock = [], [], threading.Lock()

def send(thread):
    for n in range(per_thread):
        scope = ClusterScope(user_id=number, project_id=100 + number, cluster_id=thread * 1000 + n + 1)
        receipt = analytics.track(ClusterProvisioningSuccess(scope=scope, cluster_type="eks", infra_id=9))
        with lock:
            sent.append(receipt.message_id)
            if not receipt.ok or receipt.status != "pending":
                problems.append(f"{receipt.message_id}: {receipt.status} {receipt.error}")

sys.stdin.readline()
workers = [threading.Thread(target=send, args=(n,)) for n in range(threads)]
for worker in workers:
    worker.start()
for worker in workers:
    worker.join()
analytics.shutdown()
print(json.dumps({"pid": os.getpid(), "sent": sent, "problems": problems}))
"""


@dataclass(frozen=True)
class Hosts:
    """How many application processes to run, and what each sends.

    Attributes:
        processes: the children, numbered from 1 (host n sends as user n to project 100 + n).
        threads: sending threads per child.
        per_thread: `track` calls per thread.
        mode: `strict` or `batched` (the client's audit mode).
        environment: DATABASE_URL, SEGMENT_HOST, SEGMENT_WRITE_KEY, AUDIT_CHAIN_KEY, …
    """

    processes: int
    threads: int
    per_thread: int
    mode: str
    environment: dict[str, str]

    def run(self, while_running: Callable[[], None]) -> list[dict[str, Any]]:
        """Start every child, give them the go together, call `while_running` until all have ended.

        Returns:
            Each child's report, in order.
        """
        children = [self._start(number) for number in range(1, self.processes + 1)]
        try:
            for child in children:
                assert child.stdin is not None
                child.stdin.write("go\n")
                child.stdin.flush()
            while any(child.poll() is None for child in children):
                while_running()
            outputs = [child.communicate(timeout=240) for child in children]
        finally:
            for child in children:
                if child.poll() is None:
                    child.kill()
                    child.communicate()
        for child, (_, stderr) in zip(children, outputs, strict=True):
            assert child.returncode == 0, stderr
        assert [stderr for _, stderr in outputs] == [""] * self.processes
        return [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs]

    def _start(self, number: int) -> subprocess.Popen[str]:
        arguments = [str(number), str(self.threads), str(self.per_thread), self.mode]
        return subprocess.Popen(
            [sys.executable, "-c", PROGRAM, *arguments],
            env={**os.environ, **self.environment},
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
