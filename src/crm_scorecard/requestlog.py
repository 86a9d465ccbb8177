"""Every log line names the request it belongs to: a request's id is the X-Request-ID its
proxy sent (when it looks like one) or a new one, kept for the request's duration, added to
each log record and returned in the answer's X-Request-ID header, so a user's report, the
proxy's access log and a server error's traceback can be matched up."""

from __future__ import annotations

import logging
import re
import sys
import uuid
from contextvars import ContextVar
from typing import Any, TextIO

from django.http import HttpRequest, HttpResponse

HEADER = "X-Request-ID"
_current: ContextVar[str] = ContextVar("request_id", default="-")
# Only what cannot forge another log line or field: letters, digits, . _ -, at most 200.
_ACCEPTED = re.compile(r"[A-Za-z0-9._-]{1,200}")


def current_request_id() -> str:
    """The id of the request being answered in this thread; "-" outside a request."""
    return _current.get()


class RequestIdMiddleware:
    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        sent = request.headers.get(HEADER, "")
        request_id = sent if _ACCEPTED.fullmatch(sent) else uuid.uuid4().hex
        request.request_id = request_id  # type: ignore[attr-defined]
        token = _current.set(request_id)
        try:
            response: HttpResponse = self.get_response(request)
        finally:
            _current.reset(token)
        response[HEADER] = request_id
        return response


class RequestIdFilter(logging.Filter):
    """Gives each record `request_id`, for the formatter: the request being answered, or
    the one the record is about (Django logs a 4xx or 5xx answer after the middleware)."""

    def filter(self, record: logging.LogRecord) -> bool:
        request_id = _current.get()
        if request_id == "-":
            request_id = getattr(getattr(record, "request", None), "request_id", "-")
        record.request_id = request_id
        return True


class StderrHandler(logging.StreamHandler[TextIO]):
    """Writes to whatever `sys.stderr` is at the time (as Python's last-resort handler
    does), not the stream of when logging was set up."""

    def __init__(self) -> None:
        super().__init__(sys.stderr)

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, value: TextIO) -> None:
        pass
