"""The deployment guide's nginx.conf, unchanged but for addresses, in front of two replicas:
the aws CLI, boto3 (multipart, presigned URLs) and the console work through it.

nginx is Debian's (`scripts/test` installs nginx-light when it is missing).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import boto3
import httpx
import pytest
from botocore.config import Config

from live import BUCKET, free_port
from replicas.conftest import PASSWORD, Deployment, credentials_from

GUIDE_CONF = Path(__file__).parents[2] / "docs" / "deploy" / "nginx.conf"
MiB = 1024 * 1024


def _site(deployment: Deployment, s3_port: int, console_port: int) -> str:
    """The guide's file with the replicas' and nginx's loopback addresses put in."""
    text = GUIDE_CONF.read_text()
    replicas = (deployment.a, deployment.b)

    def upstream(match: re.Match[str], attribute: str) -> str:
        servers = "".join(
            f"    server 127.0.0.1:{getattr(r, attribute)} max_fails=3 fail_timeout=5s;\n"
            for r in replicas
        )
        return match.group(1) + servers

    text = re.sub(
        r"(upstream lakestow_s3 \{\n    least_conn;\n)(    server .*\n)+",
        lambda m: upstream(m, "s3_port"),
        text,
    )
    text = re.sub(
        r"(upstream lakestow_console \{\n    least_conn;\n)(    server .*\n)+",
        lambda m: upstream(m, "console_port"),
        text,
    )
    listens = iter((s3_port, console_port))
    text = re.sub(r"listen 80;", lambda _: f"listen 127.0.0.1:{next(listens)};", text)
    assert text.count("127.0.0.1:") == 6, "the guide's nginx.conf changed shape"
    return text


@pytest.fixture(scope="module")
def nginx(
    deployment: Deployment, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    binary = shutil.which("nginx") or "/usr/sbin/nginx"
    if not Path(binary).exists():
        pytest.fail("nginx is missing: scripts/test installs Debian's nginx-light")
    prefix = tmp_path_factory.mktemp("nginx")
    s3_port, console_port = free_port(), free_port()
    (prefix / "site.conf").write_text(_site(deployment, s3_port, console_port))
    user = "user root;\n" if os.geteuid() == 0 else ""
    (prefix / "nginx.conf").write_text(
        f"{user}worker_processes 1;\nerror_log {prefix}/error.log warn;\npid {prefix}/nginx.pid;\n"
        "events { worker_connections 256; }\n"
        "http {\n"
        f"  access_log off;\n  client_body_temp_path {prefix}/body;\n"
        f"  proxy_temp_path {prefix}/proxy;\n  fastcgi_temp_path {prefix}/fastcgi;\n"
        f"  uwsgi_temp_path {prefix}/uwsgi;\n  scgi_temp_path {prefix}/scgi;\n"
        f"  include {prefix}/site.conf;\n"
        "}\n"
    )
    process = subprocess.Popen(
        [binary, "-p", str(prefix), "-c", str(prefix / "nginx.conf"), "-g", "daemon off;"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            if process.poll() is not None:
                raise AssertionError(f"nginx exited: {process.stderr and process.stderr.read()!r}")
            try:
                httpx.get(f"http://127.0.0.1:{console_port}/api/openapi.json").raise_for_status()
                break
            except httpx.HTTPError:
                assert time.monotonic() < deadline, "nginx did not answer within 15 s"
                time.sleep(0.1)
        yield f"http://127.0.0.1:{s3_port}", f"http://127.0.0.1:{console_port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_the_aws_cli_through_nginx(
    deployment: Deployment, nginx: tuple[str, str], tmp_path: Path
) -> None:
    endpoint, _ = nginx
    c = credentials_from(deployment.a)
    tree = tmp_path / "tree"
    (tree / "nested" / "deeper").mkdir(parents=True)
    files = {
        "big.bin": os.urandom(20 * MiB + 3),  # multipart through nginx (8 MiB parts)
        "nested/a b+c%.txt": b"reserved characters in the key",
        "nested/deeper/ünï.txt": b"unicode",
    }
    for name, data in files.items():
        (tree / name).write_bytes(data)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("AWS_")},
        "AWS_ACCESS_KEY_ID": c["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": c["SecretAccessKey"],
        "AWS_SESSION_TOKEN": c["SessionToken"],
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_CONFIG_FILE": str(tmp_path / "none"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"),
    }
    target = f"s3://{BUCKET}/{deployment.alice_folder}via-nginx/"
    aws = [str(Path(sys.executable).parent / "aws"), "--endpoint-url", endpoint, "s3"]
    subprocess.run(
        [*aws, "cp", "--recursive", str(tree), target], env=env, check=True, capture_output=True
    )
    back = tmp_path / "back"
    subprocess.run(
        [*aws, "cp", "--recursive", target, str(back)], env=env, check=True, capture_output=True
    )
    assert {
        p.relative_to(back).as_posix(): p.read_bytes() for p in back.rglob("*") if p.is_file()
    } == files


def test_boto3_and_presigned_urls_through_nginx(
    deployment: Deployment, nginx: tuple[str, str]
) -> None:
    endpoint, _ = nginx
    c = credentials_from(deployment.a)
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
        config=Config(s3={"addressing_style": "path"}),
    )
    key = deployment.alice_folder + "via-nginx/parts.bin"
    upload = client.create_multipart_upload(Bucket=BUCKET, Key=key)["UploadId"]
    chunks = [os.urandom(5 * MiB), os.urandom(100)]
    parts = [
        {
            "PartNumber": n,
            "ETag": client.upload_part(
                Bucket=BUCKET, Key=key, UploadId=upload, PartNumber=n, Body=data
            )["ETag"],
        }
        for n, data in enumerate(chunks, start=1)
    ]
    client.complete_multipart_upload(
        Bucket=BUCKET, Key=key, UploadId=upload, MultipartUpload={"Parts": parts}
    )
    url = client.generate_presigned_url("get_object", Params={"Bucket": BUCKET, "Key": key})
    assert httpx.get(url).content == b"".join(chunks)
    # The request line reaches lakestow as signed: a tampered presigned URL is refused.
    assert httpx.get(url.replace("parts.bin", "parts.bin2")).status_code == 403


def test_the_console_through_nginx(deployment: Deployment, nginx: tuple[str, str]) -> None:
    _, console = nginx
    with httpx.Client(base_url=console) as http:
        signed_in = http.post("/api/session", json={"name": "alice", "password": PASSWORD})
        assert signed_in.status_code == 201, signed_in.text
        listed = http.get("/api/list", params={"path": "/" + deployment.alice_folder[5:]})
        assert listed.status_code == 200, listed.text
        page = http.get("/browse/")
        assert page.status_code == 200 and "alice" in page.text


def test_sign_in_throttling_counts_the_client_behind_nginx(
    deployment: Deployment, nginx: tuple[str, str]
) -> None:
    """nginx names the client in X-Forwarded-For, which the replicas believe from nginx alone:
    a stranger's failures lock out the stranger, not everybody behind nginx."""
    _, console = nginx

    def sign_in(address: str, password: str) -> int:
        transport = httpx.HTTPTransport(local_address=address)
        with httpx.Client(base_url=console, transport=transport) as http:
            body = {"name": "alice", "password": password}
            return http.post("/api/session", json=body).status_code

    assert [sign_in("127.0.0.31", f"wrong-{n}") for n in range(6)] == [401] * 5 + [429]
    assert sign_in("127.0.0.32", PASSWORD) == 201
    transport = httpx.HTTPTransport(local_address="127.0.0.33")
    with httpx.Client(base_url=console, transport=transport) as http:  # a forged header
        body = {"name": "alice", "password": PASSWORD}
        spoofed = http.post("/api/session", json=body, headers={"x-forwarded-for": "127.0.0.31"})
    assert spoofed.status_code == 201, "a client's own X-Forwarded-For is not believed"
