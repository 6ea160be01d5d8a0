"""Object storage: the `ObjectStore` protocols and the backends behind them.

    from lakestow.storage import open_store
    store = await open_store("file:///var/lib/lakestow/objects")

Callers type against the narrow protocols they use (`Get`, `Put`, `List`, ...) or
`ObjectStore`; backends are chosen by URL in `registry` and imported on first use.
"""

from lakestow.storage.protocol import (
    DEFAULT_CONTENT_TYPE,
    MAX_PART_NUMBER,
    MIN_PART_SIZE,
    Body,
    BucketInfo,
    Buckets,
    Copy,
    Delete,
    Get,
    GetResult,
    Head,
    List,
    ListPage,
    Multipart,
    ObjectInfo,
    ObjectStore,
    PartInfo,
    PartsPage,
    Put,
    UploadInfo,
    UploadsPage,
)
from lakestow.storage.registry import open_store, register_backend

__all__ = [
    "DEFAULT_CONTENT_TYPE",
    "MAX_PART_NUMBER",
    "MIN_PART_SIZE",
    "Body",
    "BucketInfo",
    "Buckets",
    "Copy",
    "Delete",
    "Get",
    "GetResult",
    "Head",
    "List",
    "ListPage",
    "Multipart",
    "ObjectInfo",
    "ObjectStore",
    "PartInfo",
    "PartsPage",
    "Put",
    "UploadInfo",
    "UploadsPage",
    "open_store",
    "register_backend",
]
