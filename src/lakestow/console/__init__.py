"""The web console: server-rendered pages and the JSON API under /api/, beside the S3 endpoint.

app.py        create_console(runtime, ...): routes, the one error handler, body limits
context.py    the console's state (the shared runtime), the signed-in viewer of a request and
              the policy checks on warehouse paths
signin.py     sign-in and sign-out forms and /api/session
sessions.py   sessions and CSRF tokens kept in the catalog; throttle.py, the lock-out
listing.py    listings of what a viewer may see (through `lakestow.warehouse`)
api.py        listings, search, downloads, zips
changes.py    small uploads, new folders, delete, move (through `lakestow.operations`)
uploads.py    multipart uploads: create, parts, resume, complete, abort
syncstatus.py what the sync agents of a member's notebook instances last reported
account.py    /api/me, temporary credentials with snippets
share.py      /api/share: a presigned GET URL of one file, up to 7 days, audited
previews.py   /api/preview: tables (CSV, JSON, Parquet), text, images; only what they show
tokens.py     /api/token/credentials: a notebook instance's token traded for credentials
admin.py      members and storage used, for organization admins
openapi.py    the OpenAPI document of the API, written as data
pages.py      the HTML pages (Jinja2, autoescaped); zipnames.py, names inside a zip download

It takes the shared runtime (lakestow.runtime) and never imports the S3 endpoint (s3api).
"""
