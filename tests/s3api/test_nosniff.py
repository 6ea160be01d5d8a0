"""Stored HTML opened in a browser from the S3 endpoint (a presigned link, as a member shares
one): every object answer tells the browser not to sniff the content into something else,
and to render a page sandboxed: no script, an origin of its own."""

from __future__ import annotations

import httpx
from botocore.client import BaseClient

from s3api.conftest import BUCKET, LiveServer

PAGE = b"<!doctype html><script>alert(document.domain)</script>"


def test_stored_html_is_served_with_nosniff(live: LiveServer, alice: BaseClient) -> None:
    key = live.private("alice") + "nosniff/page.html"
    alice.put_object(Bucket=BUCKET, Key=key, Body=PAGE, ContentType="text/html")
    answers = [
        alice.get_object(Bucket=BUCKET, Key=key),
        alice.get_object(Bucket=BUCKET, Key=key, Range="bytes=0-9"),
        alice.head_object(Bucket=BUCKET, Key=key),
    ]
    for answer in answers:
        headers = answer["ResponseMetadata"]["HTTPHeaders"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["content-security-policy"] == "sandbox"
    url = alice.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key})
    opened = httpx.get(url)
    assert opened.status_code == 200 and opened.content == PAGE
    assert opened.headers["x-content-type-options"] == "nosniff"
    assert opened.headers["content-security-policy"] == "sandbox"  # its script never runs
