import logging

import pytest

from nornflow.engine.explain import describe_error
from nornflow.secrets import redaction


@pytest.fixture(autouse=True)
def _clean():
    redaction.clear()
    yield
    redaction.clear()


def test_redact_nested_structures_longest_first():
    redaction.register("hunter2", "hunter2-extended", "", None)
    data = {"a": "pw=hunter2-extended;", "b": ["x hunter2 y", ("hunter2",)], "n": 3}
    assert redaction.redact(data) == {"a": "pw=***;", "b": ["x *** y", ("***",)], "n": 3}


def test_nothing_registered_is_identity():
    obj = {"a": "hunter2"}
    assert redaction.redact(obj) is obj


def test_log_filter_masks_message_args_and_traceback(caplog):
    redaction.register("s3cr3t-value")
    logger = logging.getLogger("nornflow.test.redaction")
    logger.addFilter(redaction.RedactingFilter())
    with caplog.at_level(logging.INFO, logger="nornflow.test.redaction"):
        logger.info("password is %s", "s3cr3t-value")
        try:
            raise RuntimeError("auth with s3cr3t-value failed")
        except RuntimeError:
            logger.exception("boom")
    text = caplog.text
    assert "s3cr3t-value" not in text
    assert "password is ***" in text
    assert "auth with *** failed" in text


def test_describe_error_hints_and_masks():
    redaction.register("topsecret")
    text = describe_error(ConnectionRefusedError(111, "Connection refused for topsecret"))
    assert text.startswith("connection refused: the device is down")
    assert "topsecret" not in text
