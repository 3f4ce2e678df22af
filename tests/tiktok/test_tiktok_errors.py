"""``classify`` against docs/tiktok-api.md §1.4, row by row, and the exception tree."""

from __future__ import annotations

import pytest

from tikstream.errors import TikstreamError
from tikstream.tiktok import errors as e
from tikstream.tiktok.errors import ErrorClass as C
from tikstream.tiktok.errors import classify

BUSY = "The audience is currently being updated or under processing, please try again later."

CASES = [
    # success
    pytest.param(0, 200, "OK", C.OK, id="0-ok"),
    pytest.param(20001, 200, "some rows failed", C.PARTIAL, id="20001-partial"),
    # throttling
    pytest.param(40100, 200, "Too many requests", C.THROTTLED, id="40100-qps"),
    pytest.param(40016, 200, "", C.THROTTLED, id="40016-frequency-control"),
    pytest.param(40132, 200, "", C.THROTTLED, id="40132-field-value-limit"),
    pytest.param(40133, 200, "", C.THROTTLED, id="40133-advertiser-qps"),
    pytest.param(61000, 200, "", C.THROTTLED, id="61000-too-many-bl"),
    pytest.param(None, 429, "", C.THROTTLED, id="http-429"),
    # transient
    pytest.param(40201, 200, "", C.RETRYABLE, id="40201-task-not-ready"),
    pytest.param(40202, 200, "", C.RETRYABLE, id="40202-write-conflict"),
    pytest.param(50000, 200, "System error", C.RETRYABLE, id="50000-system"),
    pytest.param(50002, 200, "", C.RETRYABLE, id="50002-processing-error"),
    pytest.param(51003, 200, "", C.RETRYABLE, id="51003-dmp"),
    pytest.param(52202, 200, "", C.RETRYABLE, id="52202-upload-timeout"),
    pytest.param(60001, 200, "", C.RETRYABLE, id="60001-maintenance"),
    pytest.param(None, 500, "", C.RETRYABLE, id="http-500-no-envelope"),
    pytest.param(None, 502, "<html>bad gateway</html>", C.RETRYABLE, id="http-502-html"),
    pytest.param(None, 504, "", C.RETRYABLE, id="http-504"),
    pytest.param(40002, 503, "bad", C.RETRYABLE, id="http-503-wins-over-code"),
    pytest.param(None, 408, "", C.RETRYABLE, id="http-408"),
    pytest.param(None, 200, "", C.RETRYABLE, id="http-200-no-envelope"),
    # re-authorise
    pytest.param(40102, 200, "Access token expired", C.REAUTHORIZE, id="40102-expired"),
    pytest.param(40104, 200, "Access token is null", C.REAUTHORIZE, id="40104-empty"),
    pytest.param(40105, 200, "Access token is incorrect or has been revoked.", C.REAUTHORIZE,
                 id="40105-invalid"),
    pytest.param(40106, 200, "Invalid core user", C.REAUTHORIZE, id="40106-core-user"),
    pytest.param(40105, 401, "", C.REAUTHORIZE, id="40105-under-http-401"),
    # audience-specific 40002
    pytest.param(40002, 200, BUSY, C.AUDIENCE_BUSY, id="40002-busy"),
    pytest.param(40002, 200, "Audience is Under Processing", C.AUDIENCE_BUSY, id="40002-busy-case"),
    pytest.param(40002, 200, "The audience ended up with fewer than 1000 matches", C.AUDIENCE_TOO_SMALL,
                 id="40002-too-small-matches"),
    pytest.param(40002, 200, "an audience must keep at least 1,000 members", C.AUDIENCE_TOO_SMALL,
                 id="40002-too-small-members"),
    # permanent
    pytest.param(40002, 200, "data.0.event_id: Not a valid string", C.PERMANENT, id="40002-invalid-field"),
    pytest.param(40002, 200, "data: Length must be between 1 and 1000.", C.PERMANENT,
                 id="40002-1000-but-not-members"),
    pytest.param(40000, 200, "", C.PERMANENT, id="40000-invalid-params"),
    pytest.param(40001, 200, "You must be an admin or operator", C.PERMISSION, id="40001-no-permission"),
    pytest.param(40007, 200, "", C.PERMANENT, id="40007-not-found"),
    pytest.param(40011, 200, "", C.PERMANENT, id="40011-too-many-ids"),
    pytest.param(40050, 200, "", C.PERMANENT, id="40050-duplicated"),
    pytest.param(40062, 200, "", C.PERMANENT, id="40062-pii-not-hashed"),
    pytest.param(40101, 200, "", C.PERMANENT, id="40101-oauth-app"),
    pytest.param(40110, 200, "", C.PERMANENT, id="40110-auth-code-used"),
    pytest.param(40113, 200, "", C.PERMISSION, id="40113-app-blocked"),
    pytest.param(40118, 200, "", C.PERMISSION, id="40118-permission"),
    pytest.param(40130, 200, "", C.PERMISSION, id="40130-permission"),
    pytest.param(40300, 200, "", C.PERMANENT, id="40300-advertiser-missing"),
    pytest.param(40900, 200, "", C.PERMANENT, id="40900-md5-mismatch"),
    pytest.param(40910, 200, "", C.PERMANENT, id="40910-file-expired"),
    pytest.param(None, 404, "page not found", C.PERMANENT, id="http-404-path-bug"),
    pytest.param(0, 404, "", C.PERMANENT, id="http-404-even-with-code-0"),
    pytest.param(0, 400, "OK", C.PERMANENT, id="http-400-with-code-0"),
    pytest.param(None, 405, "", C.PERMANENT, id="http-405-no-envelope"),
    pytest.param(99999, 200, "", C.PERMANENT, id="unknown-code"),
]


@pytest.mark.parametrize(("code", "status", "message", "expected"), CASES)
def test_classify(code: int | None, status: int, message: str, expected: C) -> None:
    assert classify(code, status, message) is expected


def test_table_covers_every_class() -> None:
    covered = {p.values[3] for p in CASES}
    assert covered == set(C)
    assert len(CASES) >= 25


def test_every_error_class_maps_to_an_exception() -> None:
    for kind in C:
        if kind not in (C.OK, C.PARTIAL):
            assert issubclass(e.ERROR_TYPES[kind], e.TikTokError)


def test_tree() -> None:
    assert issubclass(e.TikTokError, TikstreamError)
    for retryable in (e.ThrottledError, e.TransportError, e.AudienceBusyError):
        assert issubclass(retryable, e.RetryableError)
    assert issubclass(e.AudienceTooSmallError, e.PermanentError)
    assert not issubclass(e.ReauthorizeError, (e.RetryableError, e.PermanentError))
    assert not issubclass(e.PermanentError, e.RetryableError)


def test_error_carries_the_ticket_data() -> None:
    err = e.PermanentError("data.0.event: bad", endpoint="event/track/", code=40002, request_id="r-9",
                           http_status=200, attempts=1)
    assert (err.code, err.request_id, err.endpoint, err.http_status) == (40002, "r-9", "event/track/", 200)
    assert str(err) == "event/track/: data.0.event: bad (code=40002, http=200, request_id=r-9)"
    assert "PermanentError(endpoint='event/track/', code=40002" in repr(err)


def test_transport_error_outcome_is_its_kind() -> None:
    assert e.TransportError("x", endpoint="a/", kind="timeout").outcome == "timeout"
    assert e.TransportError("x", endpoint="a/", kind="connection").outcome == "connection"
    assert e.ThrottledError("x", endpoint="a/").outcome == "retryable"
    assert e.AudienceTooSmallError("x", endpoint="a/").outcome == "permanent"
