"""Secrets never reach a log line: account keys, SAS signatures and shared access signatures are masked.

Installed once per process (`install_log_redaction`), it wraps the log record factory, so it covers every
logger and every handler — including handlers the Functions host adds after the app is loaded — and it
masks the formatted message, the exception text and the stack text of each record.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Any

MASK = "***"

# Each pattern keeps its name (group 1) and masks the value that follows.
_SECRETS = re.compile(
    r"""
    (AccountKey=)[^;\s'"]+                                   # connection string: the account key
    | (SharedAccessSignature=)[^;\s'"]+                      # connection string: an account SAS
    | ((?:[?&]|&amp;|\b)sig=)[^&\s'"#;]+                     # SAS token: the signature
    | (Authorization:\s*(?:Bearer|SharedKey)\s+)[^\s'"]+     # an auth header copied into a message
    """,
    re.IGNORECASE | re.VERBOSE,
)


def redact(text: str) -> str:
    """The text with every secret value replaced by ***; the names stay, so the line still reads."""
    if not text:
        return text
    return _SECRETS.sub(_keep_name, text)


# A query parameter's value in a URL (or in text holding one): `?$filter=Title eq 'vpn'&sig=...`. Names stay.
_QUERY_VALUE = re.compile(r"([?&](?:amp;)?[^=&#\s?]+=)[^&#\s]*")


def redact_telemetry(text: str) -> str:
    """What a trace may keep of a text: as a log line (`redact`), and with every URL query value masked too.

    Span attributes carry whole URLs: a storage query's `$filter` holds users' search terms and filter values,
    a callback URL's query may hold the receiver's token. The scheme, host and path stay, so a trace still
    says which table, blob or endpoint a call went to.
    """
    if not text:
        return text
    text = redact(text)
    if text.startswith(("http://", "https://", "/")) and "?" in text:
        # A whole URL (url.full, http.url, http.target): its query ends only at the fragment, spaces or not.
        head, _, query = text.partition("?")
        query, hash_sign, fragment = query.partition("#")
        pairs = (part.partition("=") for part in query.split("&"))
        masked = "&".join(f"{name}={MASK}" if sep else name for name, sep, _ in pairs)
        return f"{head}?{masked}{hash_sign}{fragment}"
    return _QUERY_VALUE.sub(lambda match: f"{match.group(1)}{MASK}", text)


def _keep_name(match: re.Match[str]) -> str:
    name = next(group for group in match.groups() if group is not None)
    return f"{name}{MASK}"


class RedactingFilter(logging.Filter):
    """A logging filter that masks secrets in a record in place (usable on any handler or logger)."""

    def filter(self, record: logging.LogRecord) -> bool:
        redact_record(record)
        return True


def redact_record(record: logging.LogRecord) -> logging.LogRecord:
    # Idempotent: a record seen by both the factory and a handler filter is simply checked twice.
    try:
        message = record.getMessage()
    except Exception:  # a bad format string: leave it for the handler to report, as logging does
        return record
    cleaned = redact(message)
    if cleaned != message:
        record.msg, record.args = cleaned, None
    if record.exc_info and not record.exc_text:
        record.exc_text = logging.Formatter().formatException(record.exc_info)
    if record.exc_text:
        record.exc_text = redact(record.exc_text)
    if record.stack_info:
        record.stack_info = redact(record.stack_info)
    return record


_install_lock = threading.Lock()
_installed = False


def install_log_redaction() -> None:
    """Makes every log record of this process pass through `redact_record`. Safe to call twice."""
    global _installed
    with _install_lock:
        if _installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            return redact_record(previous(*args, **kwargs))

        logging.setLogRecordFactory(factory)
        # Handlers that exist already get the filter too, for records made before the factory was set
        # or by code that builds LogRecord objects itself (logging.makeLogRecord).
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
        _installed = True
