"""``TikTokClient``'s segment (streaming audience) calls: bodies, answers, refusals before sending."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import pytest
from tiktok_fakes import TOKEN, Script, envelope

from tikstream.tiktok import PermanentError, ReauthorizeError, TikTokClient

MakeClient = Callable[..., tuple[TikTokClient, Script]]
ROW = [{"id": "a" * 64, "audience_ids": ["9"]}, {}]
BODY: dict[str, Any] = {"advertiser_ids": ["700"], "action": "add", "id_schema": ["EMAIL_SHA256", "PHONE_SHA256"],
                        "batch_data": [ROW]}


def test_create_segment_audience_posts_create_and_returns_the_id(make_client: MakeClient) -> None:
    client, script = make_client(envelope(data={"audience_id": "7123"}))
    assert client.create_segment_audience(TOKEN, "700", "tikstream vip") == "7123"
    assert script.requests[0].url.path == "/open_api/v1.3/segment/audience/"
    assert script.requests[0].headers["Access-Token"] == TOKEN
    assert orjson.loads(script.bodies[0]) == {"advertiser_id": "700", "action": "create",
                                              "custom_audience_name": "tikstream vip"}


def test_create_segment_audience_without_an_id_in_the_answer_is_an_error(make_client: MakeClient) -> None:
    client, _ = make_client(envelope(data={}))
    with pytest.raises(PermanentError, match="audience_id"):
        client.create_segment_audience(TOKEN, "700", "n")


@pytest.mark.parametrize("name", ["", "x" * 71], ids=["empty", "over-70"])
def test_a_name_tiktok_would_cut_is_refused_before_sending(make_client: MakeClient, name: str) -> None:
    client, script = make_client()
    with pytest.raises(ValueError, match="1 to 70"):
        client.create_segment_audience(TOKEN, "700", name)
    assert script.requests == []


def test_segment_mapping_posts_the_body_as_given(make_client: MakeClient) -> None:
    client, script = make_client(envelope())
    client.segment_mapping(TOKEN, BODY)
    assert script.requests[0].url.path == "/open_api/v1.3/segment/mapping/"
    assert orjson.loads(script.bodies[0]) == BODY


@pytest.mark.parametrize("change, problem", [
    pytest.param({"action": "APPEND"}, "action", id="file-action"),
    pytest.param({"id_schema": ["EMAIL_SHA256", "EMAIL_SHA256"]}, "duplicates", id="duplicate-schema"),
    pytest.param({"id_schema": []}, "id_schema", id="empty-schema"),
    pytest.param({"batch_data": [[{}]]}, "as long as id_schema", id="short-row"),
    pytest.param({"batch_data": []}, "batch_data", id="no-rows"),
])
def test_segment_mapping_refuses_a_malformed_body_before_sending(make_client: MakeClient, change: dict[str, Any],
                                                                problem: str) -> None:
    client, script = make_client()
    with pytest.raises(ValueError, match=problem):
        client.segment_mapping(TOKEN, {**BODY, **change})
    assert script.requests == []


def test_segment_mapping_errors_are_classified_as_everywhere(make_client: MakeClient) -> None:
    client, _ = make_client(envelope(40105, "Access token is incorrect or has been revoked."))
    with pytest.raises(ReauthorizeError):
        client.segment_mapping(TOKEN, BODY)
    client, script = make_client(envelope(40100, "Too many requests."), envelope())
    client.segment_mapping(TOKEN, BODY)  # throttled once, retried
    assert len(script.requests) == 2
