"""The OpenAPI 3.1 document of the console's JSON API, written as data, served at
/api/openapi.json. Each operation says its parameters, body and answers; every error answer
is the same `Error` object."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

Schema = dict[str, Any]

STR: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
OBJ: Schema = {"type": "object"}
ERROR_REF: Schema = {"$ref": "#/components/schemas/Error"}


def q(name: str, schema: Schema | None = None, required: bool = False) -> Schema:
    return {"name": name, "in": "query", "required": required, "schema": schema or STR}


def body(properties: dict[str, Schema], required: list[str]) -> Schema:
    schema = {"type": "object", "properties": properties, "required": required}
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def op(summary: str, ok: str = "200", params: list[Schema] | None = None, **more: Any) -> Schema:
    answers: Schema = {
        ok: {"description": "done", "content": {"application/json": {"schema": OBJ}}}
    }
    for status in ("400", "401", "403", "404", "409", "429"):
        answers[status] = {
            "description": "refused",
            "content": {"application/json": {"schema": ERROR_REF}},
        }
    return {"summary": summary, "parameters": params or [], "responses": answers, **more}


def binary_op(summary: str, media: str, params: list[Schema]) -> Schema:
    operation = op(summary, params=params)
    operation["responses"]["200"] = {
        "description": "the bytes, as an attachment",
        "content": {media: {"schema": {"type": "string", "format": "binary"}}},
    }
    return operation


PATH = q("path", required=True)
FOLDER = q("path")
UPLOAD_ID: Schema = {"name": "upload_id", "in": "path", "required": True, "schema": STR}
PART: Schema = {
    "name": "number",
    "in": "path",
    "required": True,
    "schema": {"type": "integer", "minimum": 1, "maximum": 10000},
}
BYTES_BODY: Schema = {
    "required": True,
    "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
}
PATHS_BODY = body({"paths": {"type": "array", "items": STR, "minItems": 1}}, ["paths"])
LIST_PARAMS = [
    FOLDER,
    q("cursor"),
    q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
    q("sort", {"enum": ["name", "size", "modified"]}),
    q("order", {"enum": ["asc", "desc"]}),
    q("filter"),
]
CREDENTIALS_BODY = body(
    {
        "scopes": {"type": "array", "items": STR, "maxItems": 20},
        "read_only": BOOL,
        "duration": {"oneOf": [{"type": "integer"}, STR]},
    },
    [],
)
MEMBER_BODY = body(
    {
        "action": {"enum": ["add", "disable", "enable", "reset_password"]},
        "name": STR,
        "admin": BOOL,
    },
    ["action", "name"],
)

ZIP_FORM: Schema = {
    "required": True,
    "description": "The folder, the names in it (a folder's ending in '/'), the CSRF token "
    "(or the X-CSRF-Token header): a form, so that a browser streams the download.",
    "content": {
        "application/x-www-form-urlencoded": {
            "schema": {
                "type": "object",
                "properties": {
                    "path": STR,
                    "name": {"type": "array", "items": STR, "minItems": 1, "maxItems": 1000},
                    "csrf": STR,
                },
                "required": ["path", "name"],
            }
        }
    },
}
SHARE_BODY = body(
    {"path": STR, "expires_in": {"type": ["string", "integer"]}},
    ["path"],
)

NUMBER_OR_NULL: Schema = {"type": ["number", "null"]}
STR_OR_NULL: Schema = {"type": ["string", "null"]}
SYNC_STATUS: Schema = {
    "type": "object",
    "description": (
        "The sync agent's status object of a folder, summarized. `stale` (with `warning`) when"
        " the last successful pass is older than three intervals; `age_seconds` is measured"
        " by the server's clock."
    ),
    "properties": {
        "path": STR,
        "found": BOOL,
        "ok": {"type": ["boolean", "null"]},
        "stale": BOOL,
        "warning": STR_OR_NULL,
        "last_success_at": STR_OR_NULL,
        "last_pass_at": STR_OR_NULL,
        "age_seconds": NUMBER_OR_NULL,
        "interval_seconds": NUMBER_OR_NULL,
        "counts": {
            "type": "object",
            "properties": {
                name: {"type": "integer"}
                for name in ("files", "uploaded", "deleted", "kept_aside", "retry", "errors")
            },
        },
        "errors": {"type": "array", "items": STR},
        "refused": STR_OR_NULL,
        "host": STR_OR_NULL,
    },
    "required": ["path", "found", "stale", "warning", "counts", "errors"],
}


INT: Schema = {"type": "integer"}
INT_OR_NULL: Schema = {"type": ["integer", "null"]}
VERSION_ID = q("version_id", {"type": "string", "minLength": 1, "maxLength": 64})
VERSION: Schema = {
    "type": "object",
    "description": "One version of a file, or a delete marker (no size, no ETag).",
    "properties": {
        "version_id": STR,
        "size": INT_OR_NULL,
        "modified": {"type": "string", "format": "date-time"},
        "etag": STR_OR_NULL,
        "latest": BOOL,
        "delete_marker": BOOL,
    },
    "required": ["version_id", "size", "modified", "etag", "latest", "delete_marker"],
}
RESTORE_BODY = body(
    {"path": STR, "version_id": {"type": "string", "minLength": 1, "maxLength": 64}},
    ["path", "version_id"],
)
RESTORE_FOLDER_BODY = body(
    {
        "path": STR,
        "as_of": {
            "type": "string",
            "format": "date-time",
            "description": "A time in the past, with its offset from UTC",
        },
        "dry_run": BOOL,
    },
    ["path", "as_of"],
)
RESTORE_FOLDER: Schema = {
    "type": "object",
    "description": (
        "What a folder's restore did (or, with dry_run, would do): `to_restore` files differ"
        " from their version of `as_of` and are copied back from it, `unchanged` are as they"
        " were then; `failures` lists the first of those that could not be restored."
    ),
    "properties": {
        "path": STR,
        "as_of": {"type": "string", "format": "date-time"},
        "dry_run": BOOL,
        "to_restore": INT,
        "unchanged": INT,
        "restored": INT,
        "failed": INT,
        "failures": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"path": STR, "error": STR, "message": STR},
                "required": ["path", "error", "message"],
            },
        },
    },
    "required": ["path", "as_of", "dry_run", "to_restore", "unchanged", "restored", "failed"],
}


def with_answer(operation: Schema, schema: Schema) -> Schema:
    operation["responses"]["200"]["content"]["application/json"]["schema"] = schema
    return operation


def sync_status_op() -> Schema:
    operation = op(
        "The sync status of a notebooks folder (default: the member's own)", params=[FOLDER]
    )
    operation["responses"]["200"]["content"]["application/json"]["schema"] = {
        "$ref": "#/components/schemas/SyncStatus"
    }
    return operation


PATHS: dict[str, Schema] = {
    "/api/session": {
        "post": op(
            "Sign in", "201", requestBody=body({"name": STR, "password": STR}, ["name", "password"])
        ),
        "delete": op("Sign out"),
    },
    "/api/me": {"get": op("The signed-in member, their root and S3 endpoint")},
    "/api/token/credentials": {
        "post": op(
            "A notebook instance trades its token (Authorization: Bearer) for credentials",
            security=[{"instance_token": []}],
        )
    },
    "/api/list": {
        "get": op(
            "One page of a folder: folders first, then files by name, or by size or modified"
            " time over the whole folder (where the store cannot, within the page: `sorted` is"
            ' then "page" and `notice` says so)',
            params=LIST_PARAMS,
        )
    },
    "/api/search": {
        "get": with_answer(
            op(
                "Search names below a folder: the files and folders whose name holds q, in any"
                " case (a folder once, for all below it), among what the member may list, in"
                " path order. `cursor` goes on; `partial` says the page stopped at the"
                " store's bound on one search's work, having searched up to `searched_to`",
                params=[
                    q("q", required=True),
                    FOLDER,
                    q("cursor"),
                    q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
                ],
            ),
            {
                "type": "object",
                "properties": {
                    "path": STR,
                    "q": STR,
                    "results": {"type": "array", "items": OBJ},
                    "cursor": STR_OR_NULL,
                    "complete": BOOL,
                    "partial": BOOL,
                    "searched_to": STR_OR_NULL,
                },
                "required": ["path", "q", "results", "cursor", "complete", "partial"],
            },
        )
    },
    "/api/download": {
        "get": binary_op(
            "Download a file, or one version of it", "application/octet-stream", [PATH, VERSION_ID]
        )
    },
    "/api/versions": {
        "get": with_answer(
            op(
                "The versions of a file, newest first, delete markers included",
                params=[PATH, q("cursor"), q("limit", {"type": "integer", "minimum": 1})],
            ),
            {
                "type": "object",
                "properties": {
                    "path": STR,
                    "may_restore": BOOL,
                    "versions": {
                        "type": "array",
                        "items": {"$ref": "#/components/schemas/Version"},
                    },
                    "cursor": STR_OR_NULL,
                },
                "required": ["path", "may_restore", "versions", "cursor"],
            },
        )
    },
    "/api/deleted": {
        "get": op(
            "One page of a folder's deleted files (their latest version is a delete marker) and"
            " folders (holding only deleted files); a page may be short and still have a cursor",
            params=[
                FOLDER,
                q("cursor"),
                q("limit", {"type": "integer", "minimum": 1}),
                q("filter"),
            ],
        )
    },
    "/api/restore": {
        "post": op(
            "Restore a version of a file: a copy of it becomes the file's latest version",
            requestBody=RESTORE_BODY,
        )
    },
    "/api/restore-folder": {
        "post": with_answer(
            op(
                "Restore a folder as of a time: every file below it whose version then differs"
                " from the current one gets that version back; files made since are left alone",
                requestBody=RESTORE_FOLDER_BODY,
            ),
            {"$ref": "#/components/schemas/RestoreFolder"},
        )
    },
    "/api/zip": {
        "get": binary_op("Download a folder as a zip", "application/zip", [FOLDER]),
        "post": {
            **binary_op("Download chosen files and folders as a zip", "application/zip", []),
            "requestBody": ZIP_FORM,
        },
    },
    "/api/object": {"put": op("Upload a small file", "201", [PATH], requestBody=BYTES_BODY)},
    "/api/folder": {"post": op("New folder", "201", requestBody=body({"path": STR}, ["path"]))},
    "/api/delete": {"post": op("Delete files and folders", requestBody=PATHS_BODY)},
    "/api/move": {
        "post": op("Move or rename", requestBody=body({"src": STR, "dst": STR}, ["src", "dst"]))
    },
    "/api/uploads": {
        "post": op(
            "Start a multipart upload",
            "201",
            requestBody=body(
                {"path": STR, "size": {"type": "integer", "minimum": 0}, "content_type": STR},
                ["path", "size"],
            ),
        )
    },
    "/api/uploads/{upload_id}": {
        "get": op("Parts already stored", params=[UPLOAD_ID, PATH]),
        "delete": op("Abort", params=[UPLOAD_ID, PATH]),
    },
    "/api/uploads/{upload_id}/parts/{number}": {
        "put": op("Upload one part", params=[UPLOAD_ID, PART, PATH], requestBody=BYTES_BODY)
    },
    "/api/uploads/{upload_id}/complete": {
        "post": op("Complete", params=[UPLOAD_ID], requestBody=body({"path": STR}, ["path"]))
    },
    "/api/credentials": {"post": op("Issue temporary credentials", requestBody=CREDENTIALS_BODY)},
    "/api/preview": {
        "get": op(
            "Preview a file: a table (CSV, TSV, JSON, JSON Lines, Parquet), text, an image",
            params=[PATH],
        )
    },
    "/api/share": {
        "post": op(
            "A share link of a file: a presigned GET URL, up to 7 days",
            requestBody=SHARE_BODY,
        )
    },
    "/api/preview/image": {"get": op("A PNG, JPEG, GIF or WebP image, inline", params=[PATH])},
    "/api/sync-status": {"get": sync_status_op()},
    "/api/admin/members": {
        "get": op("Members of the organization"),
        "post": op("Add, disable, enable a member or reset a password", requestBody=MEMBER_BODY),
    },
    "/api/admin/usage": {
        "get": op("Bytes and objects per top-level folder, and in the warehouse and its trash")
    },
}

DOCUMENT: Schema = {
    "openapi": "3.1.0",
    "info": {"title": "lakestow console API", "version": "1"},
    "paths": PATHS,
    "components": {
        "schemas": {
            "Error": {
                "type": "object",
                "properties": {"error": STR, "message": STR},
                "required": ["error", "message"],
            },
            "SyncStatus": SYNC_STATUS,
            "Version": VERSION,
            "RestoreFolder": RESTORE_FOLDER,
        },
        "securitySchemes": {
            "session": {"type": "apiKey", "in": "cookie", "name": "lakestow_session"},
            "csrf": {"type": "apiKey", "in": "header", "name": "X-CSRF-Token"},
            "instance_token": {"type": "http", "scheme": "bearer"},
        },
    },
    "security": [{"session": [], "csrf": []}],
}


async def document(request: Request) -> Response:
    """GET /api/openapi.json."""
    return JSONResponse(DOCUMENT)


ROUTES = [Route("/api/openapi.json", document, methods=["GET"])]
