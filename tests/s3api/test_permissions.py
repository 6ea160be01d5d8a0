"""DESIGN.md's permission table over S3: two members of acme, one of globex, real boto3."""

from __future__ import annotations

import itertools
from collections.abc import Callable

import pytest
from botocore.client import BaseClient
from botocore.exceptions import ClientError

from s3api.conftest import BUCKET, LiveServer

_counter = itertools.count()


def _folders(live: LiveServer) -> dict[str, tuple[set[str], set[str]]]:
    """folder (S3 key prefix) -> (who may list and read in it, who may write and delete in it)."""
    acme_members, everyone = {"alice", "bob"}, {"alice", "bob"}
    return {
        "acme/": (acme_members, set()),
        "acme/data/": (acme_members, set()),
        "acme/notebooks/": (acme_members, set()),
        live.private("alice"): ({"alice"}, {"alice"}),
        live.private("alice", "notebooks"): ({"alice"}, {"alice"}),
        live.private("bob"): ({"bob"}, {"bob"}),
        "acme/data/shared/": (everyone, everyone),
        "acme/notebooks/shared/": (everyone, everyone),
        "acme/spark-logs/": (everyone, everyone),
        "acme/data/customer-424242/": (set(), set()),
        "acme/elsewhere/": (set(), set()),
        "globex/data/shared/": ({"carol"}, {"carol"}),
        live.private("carol"): ({"carol"}, {"carol"}),
    }


@pytest.fixture(scope="module")
def clients(live: LiveServer) -> dict[str, BaseClient]:
    return {name: live.client(name) for name in ("alice", "bob", "carol")}


def _denied(call: Callable[..., object], *args: object, **kwargs: object) -> bool:
    """True when `call` was refused with AccessDenied (a bare 403 for HEAD), False if it ran."""
    try:
        call(*args, **kwargs)
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code in ("AccessDenied", "403"):
            return True
        raise
    return False


@pytest.mark.parametrize("who", ["alice", "bob", "carol"])
def test_the_table_over_s3(live: LiveServer, clients: dict[str, BaseClient], who: str) -> None:
    me = clients[who]
    for folder, (readers, writers) in _folders(live).items():
        key = f"{folder}probe-{who}-{next(_counter)}.txt"
        wrote = not _denied(me.put_object, Bucket=BUCKET, Key=key, Body=b"probe")
        assert wrote == (who in writers), (who, "write", folder)
        listed = not _denied(me.list_objects_v2, Bucket=BUCKET, Prefix=folder, Delimiter="/")
        assert listed == (who in readers), (who, "list", folder)
        if wrote:
            assert me.get_object(Bucket=BUCKET, Key=key)["Body"].read() == b"probe"
            others = [n for n in clients if n != who]
            for other in others:
                may_read = other in readers
                read = not _denied(clients[other].head_object, Bucket=BUCKET, Key=key)
                assert read == may_read, (other, "read", key)
                gone = not _denied(clients[other].delete_object, Bucket=BUCKET, Key=key)
                assert gone == (other in writers), (other, "delete", key)
                if gone:
                    me.put_object(Bucket=BUCKET, Key=key, Body=b"probe")
            me.delete_object(Bucket=BUCKET, Key=key)
        else:
            owner = next(iter(writers), None)
            if owner is not None:  # nothing was left behind by the refused write
                with pytest.raises(ClientError) as missing:
                    clients[owner].head_object(Bucket=BUCKET, Key=key)
                assert missing.value.response["Error"]["Code"] == "404"


def test_another_members_folder_looks_like_one_that_does_not_exist(
    live: LiveServer, clients: dict[str, BaseClient]
) -> None:
    bob = clients["bob"]
    clients["alice"].put_object(Bucket=BUCKET, Key=live.private("alice") + "exists", Body=b"x")
    answers = []
    for folder in (live.private("alice"), "acme/data/customer-999999/"):
        for call in (
            lambda f=folder: bob.get_object(Bucket=BUCKET, Key=f + "exists"),
            lambda f=folder: bob.list_objects_v2(Bucket=BUCKET, Prefix=f),
        ):
            with pytest.raises(ClientError) as error:
                call()
            answers.append(
                (
                    error.value.response["Error"]["Code"],
                    error.value.response["ResponseMetadata"]["HTTPStatusCode"],
                )
            )
    assert answers[:2] == answers[2:] == [("AccessDenied", 403)] * 2


def test_private_folders_never_appear_in_listings(
    live: LiveServer, clients: dict[str, BaseClient]
) -> None:
    clients["alice"].put_object(Bucket=BUCKET, Key=live.private("alice") + "hidden", Body=b"x")
    bob = clients["bob"]
    seen = []
    for prefix in ("", "acme/", "acme/data/", "acme/notebooks/", "acme/data/c"):
        for delimiter in ("/", ""):
            page = bob.list_objects_v2(Bucket=BUCKET, Prefix=prefix, Delimiter=delimiter)
            seen += [o["Key"] for o in page.get("Contents", [])] + [
                p["Prefix"] for p in page.get("CommonPrefixes", [])
            ]
    assert seen, "the listings returned something"
    assert not [k for k in seen if f"customer-{live.ids['alice']}" in k]


def test_other_organizations_are_invisible(
    live: LiveServer, clients: dict[str, BaseClient]
) -> None:
    carol = clients["carol"]
    roots = carol.list_objects_v2(Bucket=BUCKET, Delimiter="/")
    assert [p["Prefix"] for p in roots["CommonPrefixes"]] == ["globex/"]
    assert _denied(lambda: carol.list_objects_v2(Bucket=BUCKET, Prefix="acme/"))
    assert _denied(lambda: carol.get_object(Bucket=BUCKET, Key="acme/data/shared/anything"))
    assert [b["Name"] for b in carol.list_buckets()["Buckets"]] == [BUCKET]


def test_read_only_and_scoped_credentials(live: LiveServer) -> None:
    alice_home = live.private("alice")
    reader = live.client(credentials=live.credentials("alice", "--read-only"))
    assert _denied(lambda: reader.put_object(Bucket=BUCKET, Key=alice_home + "ro", Body=b"x"))
    reader.list_objects_v2(Bucket=BUCKET, Prefix=alice_home)
    scoped = live.client(
        credentials=live.credentials(
            "alice", "--scope", f"/data/customer-{live.ids['alice']}/proj/"
        )
    )
    scoped.put_object(Bucket=BUCKET, Key=alice_home + "proj/in-scope", Body=b"x")
    assert _denied(
        lambda: scoped.put_object(Bucket=BUCKET, Key=alice_home + "out-of-scope", Body=b"x")
    )
    assert _denied(
        lambda: scoped.put_object(Bucket=BUCKET, Key="acme/data/shared/out-of-scope", Body=b"x")
    )
    way_down = scoped.list_objects_v2(Bucket=BUCKET, Prefix="acme/data/", Delimiter="/")
    assert [p["Prefix"] for p in way_down["CommonPrefixes"]] == [alice_home]


def test_denied_requests_are_audited(live: LiveServer, clients: dict[str, BaseClient]) -> None:
    import json
    import time

    from s3api.conftest import lakestow

    key = live.private("alice") + "audited-denial"
    assert _denied(lambda: clients["bob"].put_object(Bucket=BUCKET, Key=key, Body=b"x"))
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        entries = json.loads(lakestow(live.data_dir, "audit", "--json", "--limit", "200"))
        hits = [e for e in entries if e["target"] == f"s3://{BUCKET}/{key}"]
        if hits:
            break
        time.sleep(0.1)
    assert (
        hits and hits[0]["outcome"] == "denied" and hits[0]["actor"] == f"member:{live.ids['bob']}"
    )
    assert "private folder" in hits[0]["detail"]["reason"]


def test_writes_to_spark_logs_carry_the_warning(clients: dict[str, BaseClient]) -> None:
    answer = clients["alice"].put_object(
        Bucket=BUCKET, Key="acme/spark-logs/app-1/event", Body=b"x"
    )
    warning = answer["ResponseMetadata"]["HTTPHeaders"].get("x-lakestow-warning", "")
    assert "spark-logs" in warning
    shared = clients["alice"].put_object(Bucket=BUCKET, Key="acme/data/shared/quiet", Body=b"x")
    assert "x-lakestow-warning" not in shared["ResponseMetadata"]["HTTPHeaders"]
