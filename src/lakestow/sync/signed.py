"""SigV4-signed S3 requests over `http.client`, for what obstore cannot say.

obstore (object_store) carries the agent's data: PUTs of files (conditional, with user
metadata), GETs, HEADs. It has no way to send a key that ends in `/` (a folder marker: it
normalizes the slash away, in PUT and in listings alike), a DELETE or a copy with If-Match,
a conditional CompleteMultipartUpload, or ListObjectVersions. Those few requests are signed
here (AWS Signature Version 4, path-style, the payload hashed unless the caller says
UNSIGNED-PAYLOAD, as multipart parts do, which carry Content-MD5 instead) and sent on one
keep-alive connection per thread; answers come back raw (`Answer`) for `remote` to read and
translate.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

from lakestow.sync.credentials import Credentials


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, headers (names lower-cased) and the whole body."""

    status: int
    headers: Mapping[str, str]
    body: bytes


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


def _encode(text: str, safe: str = "-_.~") -> str:
    return quote(text, safe=safe)


def signing_key(secret: str, day: str, region: str) -> bytes:
    key = _hmac(("AWS4" + secret).encode(), day)
    return _hmac(_hmac(_hmac(key, region), "s3"), "aws4_request")


def sign(
    credentials: Credentials,
    region: str,
    method: str,
    host: str,
    path: str,
    query: Mapping[str, str],
    headers: dict[str, str],
    body: bytes,
    now: datetime | None = None,
) -> dict[str, str]:
    """`headers` plus the SigV4 ones (host, x-amz-date, content hash, token, Authorization)."""
    moment = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    signed = {k.lower(): v.strip() for k, v in headers.items()}
    signed |= {"host": host, "x-amz-date": moment}
    if "x-amz-content-sha256" not in signed:  # given: UNSIGNED-PAYLOAD
        signed["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
    if credentials.session_token:
        signed["x-amz-security-token"] = credentials.session_token
    names = sorted(signed)
    canonical = "\n".join(
        [
            method,
            path,
            "&".join(f"{_encode(k)}={_encode(v)}" for k, v in sorted(query.items())),
            "".join(f"{n}:{signed[n]}\n" for n in names),
            ";".join(names),
            signed["x-amz-content-sha256"],
        ]
    )
    scope = f"{moment[:8]}/{region}/s3/aws4_request"
    digest = hashlib.sha256(canonical.encode()).hexdigest()
    to_sign = f"AWS4-HMAC-SHA256\n{moment}\n{scope}\n{digest}"
    key = signing_key(credentials.secret_access_key, moment[:8], region)
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    signed["authorization"] = (
        f"AWS4-HMAC-SHA256 Credential={credentials.access_key_id}/{scope}, "
        f"SignedHeaders={';'.join(names)}, Signature={signature}"
    )
    return signed


class Signer:
    """Signed requests to one endpoint; one keep-alive connection per thread."""

    def __init__(
        self, endpoint: str, region: str, credentials: Callable[[], Credentials], timeout: float
    ) -> None:
        parts = urlsplit(endpoint)
        self.secure = parts.scheme == "https"
        self.host = parts.netloc
        self.base = parts.path.rstrip("/")
        self.region, self.credentials, self.timeout = region, credentials, timeout
        self._local = threading.local()

    def request(
        self,
        method: str,
        bucket: str,
        key: str = "",
        query: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        body: bytes = b"",
    ) -> Answer:
        """Send one request (once more on a fresh connection when a kept-alive one was
        closed under it); any HTTP status is returned, only transport failures raise."""
        for attempt in (1, 2):
            connection = self._connection(fresh=attempt == 2)
            try:
                response = self._send(connection, method, bucket, key, query, headers, body)
                data = response.read()
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                connection.close()
                if attempt == 2:
                    raise
                continue
            found = {k.lower(): v for k, v in response.getheaders()}
            return Answer(response.status, found, data)
        raise AssertionError("unreachable")

    def open(
        self, method: str, bucket: str, key: str = "", query: Mapping[str, str] | None = None
    ) -> http.client.HTTPResponse:
        """Send one request without a body on a connection of its own, and return the answer
        unread, for the caller to stream and close (closing it closes the connection)."""
        connection = self._new_connection()
        try:
            return self._send(connection, method, bucket, key, query, None, b"")
        except BaseException:
            connection.close()
            raise

    def _send(
        self,
        connection: http.client.HTTPConnection,
        method: str,
        bucket: str,
        key: str,
        query: Mapping[str, str] | None,
        headers: Mapping[str, str] | None,
        body: bytes,
    ) -> http.client.HTTPResponse:
        path = _encode(f"{self.base}/{bucket}/{key}", safe="/-_.~")
        query = dict(query or {})
        target = path + ("?" + "&".join(f"{_encode(k)}={_encode(v)}" for k, v in query.items()))
        target = target.rstrip("?")
        signed = sign(
            self.credentials(), self.region, method, self.host, path, query,
            dict(headers or {}), body,
        )  # fmt: skip
        connection.request(method, target, body=body, headers=signed)
        return connection.getresponse()

    def _connection(self, fresh: bool) -> http.client.HTTPConnection:
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None or fresh:
            connection = self._new_connection()
            self._local.connection = connection
        return connection

    def _new_connection(self) -> http.client.HTTPConnection:
        kind = http.client.HTTPSConnection if self.secure else http.client.HTTPConnection
        return kind(self.host, timeout=self.timeout)
