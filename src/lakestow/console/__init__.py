"""The web console: server-rendered pages and the JSON API under /api/, beside the S3 endpoint.

app.py       create_console(): routes, the one error handler, static files
sessions.py  sign-in, sessions and CSRF tokens kept in the catalog, the lock-out
context.py   the signed-in viewer of a request and the policy checks on warehouse paths
api.py       listings, search, downloads, zips, uploads of small files, folders, delete, move
uploads.py   multipart uploads: create, parts, resume, complete, abort
account.py   /api/me, temporary credentials with snippets, previews
admin.py     members and storage used, for organization admins
openapi.py   the OpenAPI document of the API, written as data
pages.py     the HTML pages (Jinja2, autoescaped)
"""
