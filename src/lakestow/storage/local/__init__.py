"""The local backend: objects on one machine's disk, with full S3 key semantics.

    store = await LocalStore.open("/var/lib/lakestow/objects")   # or open_store("file://...")

Keys are rows of a SQLite index, never file paths; bytes live in immutable blob files (small
objects in the index itself); an object's commit point is the index transaction that
references them. The modules, from the store down:

    store       `LocalStore`: the `ObjectStore` operations, and `open_url` for the registry
    multipart   the `Multipart` operations
    read        snapshot reads: pin an object's blobs, then stream them
    listing     listing by range scans that seek past common prefixes
    ops         the write transactions, each a function of a `Txn`
    core        the directory lock, index connections, blob tree and pins, reached from async
    writer      group commit: many operations, one COMMIT
    index       the SQLite schema and the queries that read it
    blobs       immutable blob files and the pins that keep them while read
"""

from lakestow.storage.local.store import LocalStore, open_url

__all__ = ["LocalStore", "open_url"]
