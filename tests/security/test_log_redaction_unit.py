"""No account key, shared access signature or SAS `sig` reaches a log line."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from shared.redaction import RedactingFilter, install_log_redaction, redact
from tests.support.azurite import DEV_KEY, connection_string

SAS_URL = (
    "https://acct.blob.core.windows.net/exports/0f3c.csv?st=2026-11-22T10%3A00%3A00Z&se=2026-11-22T10%3A15%3A00Z"
    "&sp=r&spr=https&sv=2026-02-06&sr=b&rscd=attachment&sig=q1w2e3r4t5y6u7i8o9p0%2Babc%3D"
)


@pytest.mark.parametrize(
    ("text", "secret", "kept"),
    [
        (connection_string(1, 2, 3), DEV_KEY, "AccountKey=***"),
        (SAS_URL, "q1w2e3r4t5y6u7i8o9p0", "sig=***"),
        (
            "BlobEndpoint=https://a;SharedAccessSignature=sv=2026&sig=abc&sp=r",
            "sv=2026&sig=abc",
            "SharedAccessSignature=***",
        ),
        ("link: " + SAS_URL.split("?", 1)[1], "q1w2e3r4t5y6u7i8o9p0", "sig=***"),
        ("Authorization: SharedKey devstoreaccount1:c2VjcmV0", "c2VjcmV0", "Authorization: SharedKey ***"),
    ],
)
def test_secrets_are_masked_and_their_names_kept(text: str, secret: str, kept: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned and kept in cleaned


def test_ordinary_text_is_untouched() -> None:
    text = "export 0001-abc queued for org org-1 (cases CSV); design=1 signature config=2"
    assert redact(text) == text


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    install_log_redaction()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("tests.security.redaction")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    yield stream
    logger.removeHandler(handler)


def test_every_record_of_the_process_is_redacted_once_installed(captured: io.StringIO) -> None:
    log = logging.getLogger("tests.security.redaction")
    log.info("connecting with %s", connection_string(1, 2, 3))
    log.warning("link %s", SAS_URL)
    try:
        raise RuntimeError(f"storage refused {SAS_URL} with {connection_string(1, 2, 3)}")
    except RuntimeError:
        log.exception("failed")
    output = captured.getvalue()
    assert DEV_KEY not in output and "q1w2e3r4t5y6u7i8o9p0" not in output
    assert output.count("AccountKey=***") == 2 and output.count("sig=***") == 2
    assert "RuntimeError" in output and "Traceback" in output


def test_the_filter_also_works_on_its_own_for_records_made_by_hand() -> None:
    record = logging.makeLogRecord({"msg": "using %s", "args": (connection_string(1, 2, 3),)})
    RedactingFilter().filter(record)
    assert DEV_KEY not in record.getMessage() and "AccountKey=***" in record.getMessage()
