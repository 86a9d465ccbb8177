"""The worker: one process that keeps the schedule and runs the queued jobs.

Each round it queues what the schedule says is due (`schedule.schedule_tick`), drops old
page jobs' files, then runs every job in the queue, oldest first within a priority. The
queue is django-tasks-db's table: a job is claimed in a locking transaction (row locks that
skip locked rows on PostgreSQL, an exclusive transaction on SQLite), so several workers can
share one queue without running a job twice."""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from types import FrameType

from django.db import close_old_connections
from django.tasks import DEFAULT_TASK_BACKEND_ALIAS
from django_tasks_db.management.commands.db_worker import Worker
from django_tasks_db.models import DBTaskResult
from django_tasks_db.utils import exclusive_transaction

from .schedule import schedule_tick
from .services import page_jobs_prune

log = logging.getLogger(__name__)


def worker_name() -> str:
    """This process's name in the queue and the schedule: host and process id."""
    return f"{socket.gethostname()[:40]}-{os.getpid()}"


@dataclass
class Rounds:
    """What a worker did: scheduled runs queued, jobs run."""

    queued: int = 0
    ran: int = 0


@dataclass
class Runner:
    """A worker. `schedule`: also keep the schedule (one may run extra workers that only
    work the queue). `say`: where to report what happened."""

    name: str = field(default_factory=worker_name)
    schedule: bool = True
    backend: str = DEFAULT_TASK_BACKEND_ALIAS
    say: Callable[[str], None] = log.info
    stopping: bool = False

    def __post_init__(self) -> None:
        self._worker = Worker(
            queue_names=["*"],
            interval=0,
            batch=True,
            backend_name=self.backend,
            startup_delay=False,
            max_tasks=None,
            worker_id=self.name,
            excluded_queue_names=[],
        )

    def round(self, *, now: datetime | None = None) -> Rounds:
        """Queue what is due (at `now`, default: now), then run the queue until it is empty."""
        done = Rounds()
        if self.schedule:
            for run in schedule_tick(now=now, worker=self.name):
                self.say(f"queued {run.job} (due {run.due_at:%Y-%m-%d %H:%M %Z})")
                done.queued += 1
            page_jobs_prune()
        done.ran = self.drain()
        return done

    def drain(self) -> int:
        """Run queued jobs until none is ready (or the worker is told to stop); how many."""
        ran = 0
        while not self.stopping:
            ready = DBTaskResult.objects.ready().filter(backend_name=self.backend)
            with exclusive_transaction(ready.db):
                job = ready.get_locked()
                if job is not None:
                    job.claim(self.name)  # claimed in the locking transaction
            if job is None:
                break
            self.say(f"running {job.task_name} ({job.id})")
            self._worker.run_task(job)
            job.refresh_from_db(fields=["status"])
            self.say(f"{job.task_name} ({job.id}): {job.status.lower()}")
            ran += 1
        return ran

    def forever(self, *, interval: float) -> None:
        """Round after round, `interval` seconds apart, until SIGINT or SIGTERM; a job
        under way is finished first."""
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, self._stop)
        self.say(f"worker {self.name} started; every {interval:g} s")
        while not self.stopping:
            close_old_connections()  # a long-lived process: drop connections that went bad
            self.round()
            close_old_connections()
            slept = 0.0
            while slept < interval and not self.stopping:
                time.sleep(min(0.5, interval - slept))
                slept += 0.5
        self.say(f"worker {self.name} stopped")

    def _stop(self, signum: int, frame: FrameType | None) -> None:
        if self.stopping:
            raise SystemExit(1)  # asked twice: stop now
        self.say(f"{signal.strsignal(signum)}: stopping after the job under way")
        self.stopping = True
