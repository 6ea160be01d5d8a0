"""pyarrow and deltalake write and read under USER_WAREHOUSE_PATH, through the S3 endpoint."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.fs as pafs
import pytest
from deltalake import DeltaTable, write_deltalake

from s3api.conftest import BUCKET, LiveServer


@pytest.fixture(scope="module")
def creds(live: LiveServer) -> dict[str, str]:
    return live.credentials("alice")


@pytest.fixture(scope="module")
def warehouse(live: LiveServer) -> str:
    return f"{BUCKET}/{live.private('alice')}warehouse"


@pytest.fixture(scope="module")
def fs(live: LiveServer, creds: dict[str, str]) -> pafs.S3FileSystem:
    return pafs.S3FileSystem(
        access_key=creds["AccessKeyId"],
        secret_key=creds["SecretAccessKey"],
        session_token=creds["SessionToken"],
        endpoint_override=live.endpoint,
        scheme="http",
        region="us-east-1",
    )


def _table(n: int, offset: int = 0) -> pa.Table:
    return pa.table(
        {
            "id": list(range(offset, offset + n)),
            "year": [2020 + (i % 3) for i in range(n)],
            "name": [f"row-{i}" for i in range(offset, offset + n)],
        }
    )


def test_pyarrow_hive_partitioned_dataset(fs: pafs.S3FileSystem, warehouse: str) -> None:
    table = _table(3000)
    root = f"{warehouse}/pyarrow_events"
    ds.write_dataset(
        table,
        root,
        filesystem=fs,
        format="parquet",
        partitioning=["year"],
        partitioning_flavor="hive",
        existing_data_behavior="overwrite_or_ignore",
    )
    infos = fs.get_file_info(pafs.FileSelector(root, recursive=True))
    assert {i.path.split("/")[-2] for i in infos if i.type == pafs.FileType.File} == {
        "year=2020",
        "year=2021",
        "year=2022",
    }
    back = ds.dataset(root, filesystem=fs, format="parquet", partitioning="hive").to_table()
    assert back.num_rows == 3000
    assert sorted(back.column("id").to_pylist()) == list(range(3000))
    only_2021 = ds.dataset(root, filesystem=fs, format="parquet", partitioning="hive").to_table(
        filter=ds.field("year") == 2021
    )
    assert only_2021.num_rows == 1000


def test_pyarrow_is_refused_outside_the_members_folders(
    live: LiveServer, fs: pafs.S3FileSystem
) -> None:
    target = f"{BUCKET}/{live.private('bob')}stolen.txt"
    with pytest.raises(OSError, match=r"(?i)access ?denied"), fs.open_output_stream(target) as out:
        out.write(b"x")


def test_deltalake_write_append_read(
    live: LiveServer, creds: dict[str, str], warehouse: str
) -> None:
    options = {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
        "AWS_ENDPOINT_URL": live.endpoint,
        "AWS_REGION": "us-east-1",
        "AWS_ALLOW_HTTP": "true",
        "conditional_put": "etag",  # commits with If-None-Match: *, no unsafe rename
    }
    uri = f"s3://{warehouse}/delta_events"
    write_deltalake(uri, _table(100), storage_options=options, partition_by=["year"])
    write_deltalake(uri, _table(50, offset=100), storage_options=options, mode="append")
    table = DeltaTable(uri, storage_options=options)
    assert table.version() == 1
    rows = table.to_pyarrow_table()
    assert rows.num_rows == 150
    assert sorted(rows.column("id").to_pylist()) == list(range(150))
    first = DeltaTable(uri, storage_options=options, version=0).to_pyarrow_table()
    assert first.num_rows == 100
