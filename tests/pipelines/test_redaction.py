"""Credentials in a tracking URI never reach a message or a log line, whatever they hold."""

from __future__ import annotations

import logging

import pytest

from pipelines.redaction import RedactCredentials, redact


@pytest.mark.parametrize("password", ["plain", "Sec@ret-Pw9", "pa:ss", "p/w@rd", "a@b:c/d@e"])
def test_every_part_of_the_password_is_hidden(password):
    text = f"registry unavailable: http://alice:{password}@mlflow.internal:5000/api/2.0 (x)"
    assert redact(text) == "registry unavailable: http://***@mlflow.internal:5000/api/2.0 (x)"


def test_text_without_credentials_is_left_alone():
    text = "serving http://mlflow:5000/models/x; mail ops@example.com"
    assert redact(text) == text


def test_log_records_are_redacted():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "uri %s", ("http://u:a@b@h:1",),
                               None)
    RedactCredentials().filter(record)
    assert record.getMessage() == "uri http://***@h:1"
