"""A member's view of the warehouse: keys and paths, and listings of what the member may see.

Everything a member may see lies in a few subtrees (their private folders, the shared ones,
`spark-logs/`, narrowed by their credentials' scopes: `policy.subtrees`). A listing is the
merge of those subtrees' listings, each asked of the store for the part of the request it
covers, so every answer (entries, truncation, the next position) is what the member would
get if nothing else existed, and a page costs O(page) whatever the bucket holds. The fixed
folders always exist: a subtree's top rolls up into a common prefix even when it is empty,
so that `/data/` shows `customer-<id>/` and `shared/` from the start.

The S3 endpoint and the console both list through here, so a member sees the same folders
whichever door they come through.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from lakestow import paths
from lakestow.auth.policy import Action, Decision, Principal, Target, decide, subtrees
from lakestow.domain import OrgInfo
from lakestow.storage.common import common_prefix
from lakestow.storage.protocol import (
    NULL_VERSION,
    List,
    ListPage,
    Multipart,
    ObjectInfo,
    SortedListing,
    SortedPage,
    SortPosition,
    UploadInfo,
    VersionInfo,
    Versioning,
    VersionsPage,
)

Authorize = Callable[[Action, str], Decision]
"""Decides an action on a key of the org's bucket, raising AccessDenied (and auditing) if no."""

Entry = ObjectInfo | str
"""An object of a listing, or a common prefix."""
Upload = UploadInfo | str
"""A multipart upload of a listing, or a common prefix."""
Version = VersionInfo | str
"""A version (or delete marker) of a versions listing, or a common prefix."""
Markers = tuple[str | None, str | None]
"""Where a versions listing starts: after a key (and, with a version id, after that version
of it), as S3's key-marker and version-id-marker say."""


@dataclass(frozen=True)
class MemberView:
    """A member's view of the warehouse: their principal and their organization's root.
    (Not the catalog row `catalog.models.Member`, nor the record `domain.MemberInfo`.)"""

    principal: Principal
    org: OrgInfo

    @property
    def root(self) -> str:
        """The key prefix of the warehouse root: `acme/` (or `""` for a bucket-wide root)."""
        return self.key_of("")

    def path_of(self, bucket: str, key: str) -> str | None:
        """The warehouse path of (bucket, key), or None when it is outside the warehouse."""
        if bucket != self.org.bucket or not key.startswith(self.root):
            return None
        return key[len(self.root) :]

    def key_of(self, path: str) -> str:
        return f"{self.org.prefix}/{path}" if self.org.prefix else path

    def decide(self, action: Action, path: str) -> Decision:
        return decide(self.principal, action, Target(self.org.id, path))


@dataclass(frozen=True)
class Span:
    """The part of a listing that lies in one subtree: the store is listed under `prefix`,
    unless the whole subtree rolls up into the common prefix `rolled`."""

    prefix: str
    rolled: str | None = None


@dataclass(frozen=True)
class UploadsPage:
    """A page of multipart uploads and common prefixes, in key order."""

    uploads: list[UploadInfo]
    prefixes: list[str]
    truncated: bool
    last: Upload | None
    """The page's last entry when truncated: where the next page starts."""


def spans(member: MemberView, action: Action, prefix: str, delimiter: str | None) -> list[Span]:
    """The member's subtrees (for `action`) that a listing of `prefix` reaches, in key order."""
    found = []
    for subtree in subtrees(member.principal, action):
        top = member.key_of(subtree)
        if prefix.startswith(top):
            return [Span(prefix)]  # inside one subtree (none holds another): only there
        if top.startswith(prefix):
            found.append(Span(top, common_prefix(top, prefix, delimiter)))
    return found


def authorize_listing(member: MemberView, authorize: Authorize, prefix: str) -> None:
    """AccessDenied (audited) for a prefix in a folder the member may not list, or beside
    the warehouse; above the warehouse root, a listing shows the way down to it."""
    root = member.root
    if prefix.startswith(root):
        path = prefix[len(root) :]
        authorize(Action.LIST, member.key_of(path if paths.is_folder(path) else paths.parent(path)))
    elif not root.startswith(prefix):
        authorize(Action.LIST, prefix)


async def list_page(
    store: List,
    member: MemberView,
    authorize: Authorize,
    prefix: str,
    delimiter: str | None,
    start_after: str | None,
    max_keys: int,
) -> ListPage:
    """One page of what `member` may see under the key prefix `prefix`, after `start_after`."""
    authorize_listing(member, authorize, prefix)
    reached = spans(member, Action.LIST, prefix, delimiter)
    return await list_spans(
        store, member.org.bucket, reached, prefix, delimiter, start_after, max_keys
    )


async def list_spans(
    store: List,
    bucket: str,
    reached: Sequence[Span],
    prefix: str,
    delimiter: str | None,
    start_after: str | None,
    max_keys: int,
) -> ListPage:
    """The listing of `prefix` made of `reached` alone: the entries after `start_after`."""
    if len(reached) == 1 and reached[0].prefix == prefix:  # the usual case: the store's page
        return await store.list(
            bucket, prefix=prefix, delimiter=delimiter, start_after=start_after, max_keys=max_keys
        )
    if max_keys <= 0:
        return ListPage([], [], False, None)
    entries: list[Entry] = []
    want = max_keys + 1  # one more than the page, to know whether it is truncated
    for span in reached:
        if span.rolled is None:
            await _extend(store, bucket, span.prefix, prefix, delimiter, start_after, entries, want)
        elif _after(span.rolled, start_after) and _last(entries) != span.rolled:
            entries.append(span.rolled)
        if len(entries) >= want:
            break
    truncated = len(entries) > max_keys
    del entries[max_keys:]
    return ListPage(
        [e for e in entries if not isinstance(e, str)],
        [e for e in entries if isinstance(e, str)],
        truncated,
        _name(entries[-1]) if truncated else None,
    )


async def sorted_page(
    store: List,
    member: MemberView,
    authorize: Authorize,
    prefix: str,
    by: str,
    descending: bool,
    after: SortPosition | None,
    max_keys: int,
) -> SortedPage | None:
    """One page of the direct children (delimiter "/") of the key prefix `prefix` that
    `member` may see, folders first, then files by `by` over the whole folder, as
    `SortedListing.list_sorted` lists them; None when the store cannot sort this folder.

    Inside one subtree (the usual case) that is the store's sorted listing. Above the
    member's subtrees, every entry is a subtree rolled up into a folder, and no file shows."""
    authorize_listing(member, authorize, prefix)
    reached = spans(member, Action.LIST, prefix, "/")
    if len(reached) == 1 and reached[0].prefix == prefix:
        if not isinstance(store, SortedListing):
            return None
        return await store.list_sorted(
            member.org.bucket,
            prefix=prefix,
            by=by,
            descending=descending,
            after=after,
            max_keys=max_keys,
        )
    if any(span.rolled is None for span in reached):
        return None  # files of several subtrees: not merged in order here
    rolled = sorted({span.rolled for span in reached if span.rolled is not None})
    if after is not None:
        rolled = [name for name in rolled if name > after.key]
    more = len(rolled) > max_keys
    del rolled[max_keys:]
    return SortedPage([], rolled, SortPosition(rolled[-1]) if more and rolled else None)


async def _extend(
    store: List,
    bucket: str,
    top: str,
    prefix: str,
    delimiter: str | None,
    start_after: str | None,
    entries: list[Entry],
    want: int,
) -> None:
    """Append the entries of the subtree `top` after `start_after`, rolled up as a listing of
    `prefix` rolls them, until `entries` holds `want`.

    The store rolls keys up from `top`, which is the same unless a delimiter of several
    characters begins in `top` and ends below it: such an entry is rolled up here, and the
    store asked again past it.
    """
    straddles = delimiter is not None and len(delimiter) > 1
    after = start_after
    while len(entries) < want:
        listed = await store.list(
            bucket, prefix=top, delimiter=delimiter, start_after=after, max_keys=want - len(entries)
        )
        rolled_here: str | None = None
        for entry in _in_order(listed.objects, listed.common_prefixes):
            if straddles:
                rolled = common_prefix(_name(entry), prefix, delimiter)
                if rolled is not None and rolled != entry:  # not a common prefix of the store
                    entry = rolled_here = rolled
            if _after(_name(entry), start_after) and _last(entries) != _name(entry):
                entries.append(entry)
        if not listed.is_truncated or listed.next_start_after is None:
            return
        after = listed.next_start_after
        if rolled_here is not None:
            after = max(after, past(rolled_here))


async def list_versions(
    store: Versioning,
    member: MemberView,
    authorize: Authorize,
    prefix: str,
    delimiter: str | None,
    markers: Markers,
    max_keys: int,
) -> VersionsPage:
    """One page of the versions `member` may see under the key prefix `prefix`, after
    `markers`: what they may list, with every version and delete marker of it."""
    authorize_listing(member, authorize, prefix)
    reached = spans(member, Action.LIST, prefix, delimiter)
    return await list_version_spans(
        store, member.org.bucket, reached, prefix, delimiter, markers, max_keys
    )


async def list_version_spans(
    store: Versioning,
    bucket: str,
    reached: Sequence[Span],
    prefix: str,
    delimiter: str | None,
    markers: Markers,
    max_keys: int,
) -> VersionsPage:
    """The versions listing of `prefix` made of `reached` alone, as `list_spans` makes a
    listing: the entries after `markers`. A subtree's store listing gets the version id
    marker only when the key marker lies in it: of a key elsewhere (another member's), the
    store is never asked, and no version of it could be listed there anyway."""
    if len(reached) == 1 and reached[0].prefix == prefix:  # the usual case: the store's page
        return await store.list_versions(
            bucket,
            prefix=prefix,
            delimiter=delimiter,
            key_marker=markers[0],
            version_id_marker=_marker_in(prefix, markers),
            max_keys=max_keys,
        )
    if max_keys <= 0:
        return VersionsPage([], [], False)
    entries: list[Version] = []
    want = max_keys + 1  # one more than the page, to know whether it is truncated
    for span in reached:
        if span.rolled is None:
            start = (markers[0], _marker_in(span.prefix, markers))
            await _extend_versions(
                store, bucket, span.prefix, prefix, delimiter, start, entries, want
            )
        elif _after(span.rolled, markers[0]) and _last(entries) != span.rolled:
            entries.append(span.rolled)
        if len(entries) >= want:
            break
    truncated = len(entries) > max_keys
    del entries[max_keys:]
    return VersionsPage(
        [e for e in entries if not isinstance(e, str)],
        [e for e in entries if isinstance(e, str)],
        truncated,
        *(_markers_after(entries[-1]) if truncated else (None, None)),
    )


async def _extend_versions(
    store: Versioning,
    bucket: str,
    top: str,
    prefix: str,
    delimiter: str | None,
    markers: Markers,
    entries: list[Version],
    want: int,
) -> None:
    """Append the versions and common prefixes of the subtree `top` after `markers`, rolled
    up as a listing of `prefix` rolls them, until `entries` holds `want` (as `_extend`)."""
    straddles = delimiter is not None and len(delimiter) > 1
    key_marker = markers[0]
    while len(entries) < want:
        listed = await store.list_versions(
            bucket,
            prefix=top,
            delimiter=delimiter,
            key_marker=markers[0],
            version_id_marker=markers[1],
            max_keys=want - len(entries),
        )
        rolled_here: str | None = None
        for entry in _versions_in_order(listed.versions, listed.common_prefixes):
            if straddles:
                rolled = common_prefix(_name(entry), prefix, delimiter)
                if rolled is not None and rolled != entry:  # not a common prefix of the store
                    entry = rolled_here = rolled
            # the store's versions are all after the markers; a prefix rolled here may not be
            if isinstance(entry, str) and (
                not _after(entry, key_marker) or _last(entries) == entry
            ):
                continue
            entries.append(entry)
        if not listed.is_truncated or listed.next_key_marker is None:
            return
        markers = (listed.next_key_marker, listed.next_version_id_marker)
        if rolled_here is not None and past(rolled_here) > listed.next_key_marker:
            markers = (past(rolled_here), None)


def _marker_in(top: str, markers: Markers) -> str | None:
    """The version id marker, when the key marker lies under `top`; else None."""
    key_marker, version_id_marker = markers
    return version_id_marker if key_marker is not None and key_marker.startswith(top) else None


def _markers_after(entry: Version) -> Markers:
    """The markers of the page that ends with `entry` (S3's NextKeyMarker and
    NextVersionIdMarker): a common prefix is passed whole."""
    if isinstance(entry, str):
        return entry, None
    return entry.info.key, entry.info.version_id or NULL_VERSION


def _versions_in_order(versions: list[VersionInfo], prefixes: list[str]) -> list[Version]:
    """By key (a stable sort: a key's versions stay newest first)."""
    if not prefixes:
        return list(versions)
    return sorted([*versions, *prefixes], key=_name)


async def list_uploads(
    store: Multipart,
    bucket: str,
    reached: Sequence[Span],
    prefix: str,
    delimiter: str | None,
    key_marker: str | None,
    upload_id_marker: str | None,
    max_uploads: int,
) -> UploadsPage:
    """The multipart uploads under `prefix` that lie in `reached`, after the markers, with
    keys rolled up into common prefixes by `delimiter`."""
    entries: list[Upload] = []
    want = max_uploads + 1
    for span in reached:
        markers = (key_marker, upload_id_marker)
        while len(entries) < want:
            listed = await store.list_multipart_uploads(
                bucket,
                prefix=span.prefix,
                key_marker=markers[0],
                upload_id_marker=markers[1],
                max_uploads=want - len(entries),
            )
            rolled_here: str | None = None
            for upload in listed.uploads:
                rolled = common_prefix(upload.key, prefix, delimiter)
                entry: Upload = upload if rolled is None else rolled
                rolled_here = rolled or rolled_here
                if _upload_after(entry, key_marker, upload_id_marker) and _last(entries) != entry:
                    entries.append(entry)
            if not listed.is_truncated or not listed.uploads:
                break
            last = listed.uploads[-1]
            markers = (last.key, last.upload_id)
            if rolled_here is not None and past(rolled_here) > last.key:
                markers = (past(rolled_here), None)
    truncated = len(entries) > max_uploads
    del entries[max(max_uploads, 0) :]
    return UploadsPage(
        [e for e in entries if not isinstance(e, str)],
        [e for e in entries if isinstance(e, str)],
        truncated,
        entries[-1] if truncated and entries else None,
    )


def past(prefix: str) -> str:
    """A start-after that skips every key beginning with `prefix`: a key is at most 1,024
    bytes, so none beginning with `prefix` sorts after `prefix` and 256 of U+10FFFF. (No
    string is the greatest below `successor(prefix)`, and start-after is exclusive.)"""
    return prefix + "\U0010ffff" * 256


def _in_order(objects: list[ObjectInfo], prefixes: list[str]) -> list[Entry]:
    if not prefixes:
        return list(objects)
    if not objects:
        return list(prefixes)
    return sorted([*objects, *prefixes], key=_name)


def _name(entry: Entry | Upload | Version) -> str:
    if isinstance(entry, str):
        return entry
    return entry.info.key if isinstance(entry, VersionInfo) else entry.key


def _last(entries: Sequence[object]) -> str | None:
    last = entries[-1] if entries else None
    return last if isinstance(last, str) else None  # only common prefixes ever repeat


def _after(name: str, start_after: str | None) -> bool:
    return start_after is None or name > start_after


def _upload_after(entry: Upload, key_marker: str | None, upload_id_marker: str | None) -> bool:
    if key_marker is None:
        return True
    if isinstance(entry, str) or entry.key != key_marker:
        return _name(entry) > key_marker
    return upload_id_marker is not None and entry.upload_id > upload_id_marker
