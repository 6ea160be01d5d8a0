"""The `lakestow` command (a click group): `serve`, the admin commands on a data directory
(`init`, `org`, `user`, `credentials`, `token`, `operator`, `env`, `audit`, `keys`) through
`lakestow.services`, `aws-credentials`, and the sync agent's `instance` and `home` commands,
which are registered from `lakestow.sync.commands` and import nothing of the server.

Fast from the command line: this module imports only click. Each admin command imports the
settings, the catalog, the services or the key files when it runs, so `--help`, `home`,
`instance`, `aws-credentials` and the token exchange never load SQLAlchemy, Alembic, the web
framework or boto3 (tests/test_cli_imports.py checks it).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from lakestow import DATA_DIR_ENV, DEFAULT_DATA_DIR

if TYPE_CHECKING:
    from lakestow import config
    from lakestow.auth.credentials import TemporaryCredentials
    from lakestow.domain import MemberInfo, OrgInfo
    from lakestow.services import Services

TOKEN_MAX_SECONDS = 366 * 86400


class Group(click.Group):
    """A click group that prints lakestow's own errors, and a catalog it cannot reach, as one
    line on stderr and exits 1."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as exc:
            errors = sys.modules.get("lakestow.errors")  # loaded by whatever raised one
            if errors is not None and isinstance(exc, errors.LakestowError):
                raise click.ClickException(exc.message) from exc
            reason = _catalog_unreachable(exc)
            if reason is None:
                raise
            raise click.ClickException(f"the catalog cannot be reached: {reason}") from exc


def _catalog_unreachable(exc: Exception) -> str | None:
    """The driver's first line when `exc` says the catalog cannot be reached (it names the
    host and port, never the password); SQLAlchemy is loaded by then if it can say so."""
    errors = sys.modules.get("sqlalchemy.exc")
    if errors is None or not isinstance(exc, errors.OperationalError):
        return None
    return (str(exc.orig).strip().splitlines() or ["no answer"])[0]


@click.group(cls=Group)
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=DATA_DIR_ENV,
    default=DEFAULT_DATA_DIR,
    show_default=True,
    help=f"The data directory (or ${DATA_DIR_ENV}).",
)
@click.pass_context
def cli(ctx: click.Context, data_dir: Path) -> None:
    """lakestow: a warehouse of folders in object storage, with an S3 endpoint and a console."""
    ctx.obj = data_dir


def main() -> None:
    cli(prog_name="lakestow")


def _register_sync_commands() -> None:
    from lakestow.sync.commands import home, instance

    cli.add_command(home)
    cli.add_command(instance)


@contextmanager
def _service(ctx: click.Context) -> Iterator[Services]:
    from lakestow import datadir

    settings = _settings(ctx)
    with datadir.opened(settings) as opened:
        yield opened.services(_actor())


def _settings(ctx: click.Context) -> config.Settings:
    from lakestow import config  # here: `home`, `instance` and `--help` load no settings

    return config.load(ctx.find_root().obj)


def _actor() -> str:
    try:
        import getpass

        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@cli.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the data directory (config, server keys, catalog, object store) if missing."""
    from lakestow import datadir
    from lakestow.catalog.db import display_url

    settings = _settings(ctx)
    done = datadir.initialize(settings)
    for path in done.created:
        click.echo(f"created {path}", err=True)
    if done.joined and settings.catalog_url:
        click.echo(f"joined the catalog in use at {display_url(settings.catalog_url)}", err=True)
    where = settings.data_dir if settings.uses_data_dir else "no data directory needed"
    click.echo(f"lakestow ready: {where}", err=True)


@cli.group()
def keys() -> None:
    """Server key files: one per deployment, shared by every replica."""


@keys.command("generate")
@click.argument("path", type=click.Path(path_type=Path))
def keys_generate(path: Path) -> None:
    """Write a new server key file at PATH (mode 0600); never overwrites one."""
    from lakestow.auth import keys as server_keys
    from lakestow.errors import InvalidInput

    if path.exists():
        raise InvalidInput(f"{path} exists: lakestow never overwrites a key file")
    server_keys.generate(path)
    click.echo(f"wrote {path} (mode 0600): give it to every replica as LAKESTOW_KEY_FILE", err=True)


@keys.command("rotate")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def keys_rotate(path: Path) -> None:
    """Stage a new key in PATH: it opens but does not seal yet. Roll the file out to every
    replica, then `lakestow keys promote PATH` and roll it out again."""
    from lakestow.auth import keys as server_keys

    server_keys.stage(path)
    click.echo(f"{path}: a new key staged; roll it out, then `lakestow keys promote`", err=True)


@keys.command("promote")
@click.argument("path", type=click.Path(path_type=Path, exists=True, dir_okay=False))
def keys_promote(path: Path) -> None:
    """Make PATH's staged key the one that seals; older keys still open what they sealed."""
    from lakestow.auth import keys as server_keys

    server_keys.promote(path)
    count = len(server_keys.load(path).keys)
    click.echo(f"{path}: the staged key seals now, {count - 1} older key(s) kept", err=True)


@cli.command()
@click.option("--s3-address", default=None, help="HOST:PORT of the S3 endpoint [127.0.0.1:9000].")
@click.option("--console-address", default=None, help="HOST:PORT of the console [127.0.0.1:9001].")
@click.option(
    "--workers",
    type=click.IntRange(min=0, max=64),
    default=None,
    help="Worker processes [0: one per core, at most 8; 1: a single process].",
)
@click.pass_context
def serve(
    ctx: click.Context, s3_address: str | None, console_address: str | None, workers: int | None
) -> None:
    """Serve the S3 endpoint (and the console); initializes a fresh data directory first."""
    from lakestow import config
    from lakestow.server import serve as run

    settings = config.load(
        ctx.find_root().obj,
        s3_address=s3_address,
        console_address=console_address,
        workers=workers,
    )
    run(settings)


# organizations


@cli.group()
def org() -> None:
    """Organizations and their warehouse roots."""


RETENTION_HELP = "How long overwritten and deleted objects are kept: 30d, 12h, or 0 (not kept)."


@org.command("create")
@click.argument("name")
@click.option("--bucket", default="lakestow", show_default=True)
@click.option("--prefix", default=None, help="Key prefix of the root (default: the name).")
@click.option("--retention", default="30d", show_default=True, help=RETENTION_HELP)
@click.pass_context
def org_create(
    ctx: click.Context, name: str, bucket: str, prefix: str | None, retention: str
) -> None:
    """Create an organization; prints the S3 URI of its warehouse root."""
    from lakestow.services import parse_retention

    seconds = parse_retention(retention)
    with _service(ctx) as service:
        click.echo(service.orgs.create_org(name, bucket, prefix, retention=seconds).root_uri)


@org.command("set")
@click.argument("name")
@click.option("--retention", required=True, help=RETENTION_HELP)
@click.pass_context
def org_set(ctx: click.Context, name: str, retention: str) -> None:
    """Change an organization's settings; a shorter retention applies to what is kept
    already at the servers' next purge (or at once: `lakestow org purge`)."""
    from lakestow.services import parse_retention

    seconds = parse_retention(retention)
    with _service(ctx) as service:
        info = service.orgs.set_retention(name, seconds)
    click.echo(f"{name} keeps overwritten and deleted objects {_kept(info)}", err=True)


def _kept(o: OrgInfo) -> str:
    return f"for {o.retention_text}" if o.retention else "not at all (retention 0)"


@org.command("purge")
@click.argument("name")
@click.option(
    "--older-than",
    default=None,
    help="Purge what was overwritten or deleted longer ago than this: 7d, 12h, or 0 for all "
    "of it [default: the organization's retention].",
)
@click.pass_context
def org_purge(ctx: click.Context, name: str, older_than: str | None) -> None:
    """Remove for good the overwritten and deleted objects an organization keeps, past its
    retention (or --older-than); never a current object. Prints how many versions went.

    A local object store serves one process at a time: stop `lakestow serve` first (which
    purges past the retention by itself every `trash_purge_interval` seconds)."""
    import asyncio

    from lakestow.services import parse_retention

    seconds = None if older_than is None else parse_retention(older_than, "--older-than")
    settings = _settings(ctx)
    with _service(ctx) as service:
        info = service.orgs.get_org(name)
        count = asyncio.run(_purge(settings, info, seconds))
        service.orgs.record_purge(info, count, info.retention if seconds is None else seconds)
    click.echo(f"purged {count} version(s) from the trash of {name}")


async def _purge(settings: config.Settings, org: OrgInfo, older_than: int | None) -> int:
    from lakestow import trash
    from lakestow.errors import InvalidInput, Unavailable
    from lakestow.server import store_options
    from lakestow.storage.registry import open_store

    try:
        store = await open_store(settings.resolved_store_url, **store_options(settings))
    except Unavailable as exc:
        if exc.code != "StoreInUse":
            raise
        raise InvalidInput(
            f"{exc.message} A server running on it purges past the retention every "
            f"{settings.trash_purge_interval:g} s; to purge now, stop it first."
        ) from exc
    try:
        return await trash.purge_org(store, org, datetime.now(UTC), older_than=older_than)
    finally:
        await store.aclose()


@org.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def org_list(ctx: click.Context, as_json: bool) -> None:
    """List organizations and how long each keeps overwritten and deleted objects."""
    with _service(ctx) as service:
        orgs = service.orgs.list_orgs()
    rows = [_org_json(o) for o in orgs]
    _print_rows(rows, ["name", "root", "retention"], as_json)


def _org_json(o: OrgInfo) -> dict[str, Any]:
    return {
        "id": o.id,
        "name": o.name,
        "bucket": o.bucket,
        "prefix": o.prefix,
        "root": o.root_uri,
        "retention": o.retention_text,
        "retention_seconds": o.retention,
    }


# members


@cli.group()
def user() -> None:
    """Members of organizations."""


@user.command("create")
@click.argument("name")
@click.option("--org", "org_name", required=True)
@click.option("--admin", is_flag=True, help="The member administers their organization.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def user_create(
    ctx: click.Context, name: str, org_name: str, admin: bool, password_stdin: bool
) -> None:
    """Create a member; prints the member's id."""
    password = _stdin_password() if password_stdin else None
    with _service(ctx) as service:
        member = service.orgs.create_member(name, org_name, admin=admin, password=password)
    click.echo(member.id)
    if password is None:
        click.echo(
            f"{name} has no password yet: set one with `lakestow user passwd {name}`", err=True
        )


@user.command("list")
@click.option("--org", "org_name", default=None)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def user_list(ctx: click.Context, org_name: str | None, as_json: bool) -> None:
    """List members."""
    with _service(ctx) as service:
        members = service.orgs.list_members(org_name)
    rows = [_member_json(m) for m in members]
    _print_rows(rows, ["id", "name", "org", "admin", "disabled"], as_json)


def _member_json(m: MemberInfo) -> dict[str, Any]:
    return {
        "id": m.id,
        "name": m.name,
        "org": m.org.name,
        "admin": m.admin,
        "disabled": m.disabled,
        "folder": m.folder,
        "has_password": m.has_password,
    }


@user.command("disable")
@click.argument("name")
@click.pass_context
def user_disable(ctx: click.Context, name: str) -> None:
    """Disable a member: every request and credential of theirs is refused from now on.

    Their temporary credentials, instance tokens and console sessions are revoked for good:
    `user enable` does not bring them back."""
    with _service(ctx) as service:
        service.orgs.set_disabled(name, True)
    click.echo(f"disabled {name}", err=True)


@user.command("enable")
@click.argument("name")
@click.pass_context
def user_enable(ctx: click.Context, name: str) -> None:
    """Enable a disabled member again: they sign in anew, and get new credentials and
    instance tokens (none issued before the disable works again)."""
    with _service(ctx) as service:
        service.orgs.set_disabled(name, False)
    click.echo(f"enabled {name}", err=True)


@user.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.pass_context
def user_passwd(ctx: click.Context, name: str, password_stdin: bool) -> None:
    """Set a member's password."""
    if password_stdin:
        password = _stdin_password()
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    with _service(ctx) as service:
        service.orgs.set_password(name, password)
    click.echo(f"password of {name} changed", err=True)


def _stdin_password() -> str:
    password = sys.stdin.readline().rstrip("\r\n")
    if not password:
        raise click.ClickException("no password on standard input")
    return password


# credentials


@cli.group()
def credentials() -> None:
    """Temporary credentials for the S3 endpoint."""


@credentials.command("issue")
@click.argument("name")
@click.option("--duration", default="3600", show_default=True, help="Seconds, or 30m, 1h, 12h.")
@click.option("--scope", "scopes", multiple=True, help="Narrow to this folder (repeatable).")
@click.option("--read-only", is_flag=True)
@click.option("--format", "fmt", type=click.Choice(["json", "env", "ini"]), default="json")
@click.option("--profile", default="lakestow", show_default=True, help="Profile name for ini.")
@click.pass_context
def credentials_issue(
    ctx: click.Context,
    name: str,
    duration: str,
    scopes: Sequence[str],
    read_only: bool,
    fmt: str,
    profile: str,
) -> None:
    """Issue temporary credentials to a member."""
    from lakestow.services import parse_duration

    seconds = parse_duration(duration)
    settings = _settings(ctx)
    with _service(ctx) as service:
        issued = service.credentials.issue_credentials(
            name, seconds=seconds, scopes=tuple(scopes), read_only=read_only
        )
    click.echo(_render_credentials(issued, fmt, profile, settings), nl=False)


def _render_credentials(
    c: TemporaryCredentials, fmt: str, profile: str, settings: config.Settings
) -> str:
    if fmt == "json":
        import json

        return json.dumps(c.credential_process(), indent=2) + "\n"
    expires = c.credential_process()["Expiration"]
    if fmt == "env":
        return _exports(
            {
                "AWS_ACCESS_KEY_ID": c.access_key_id,
                "AWS_SECRET_ACCESS_KEY": c.secret_access_key,
                "AWS_SESSION_TOKEN": c.session_token,
                "AWS_ENDPOINT_URL": _s3_url(settings),
                "AWS_DEFAULT_REGION": settings.region,
            },
            comment=f"expires {expires}",
        )
    return (
        f"# lakestow credentials, expire {expires}\n[{profile}]\n"
        f"aws_access_key_id = {c.access_key_id}\n"
        f"aws_secret_access_key = {c.secret_access_key}\n"
        f"aws_session_token = {c.session_token}\n"
    )


@credentials.command("revoke")
@click.option("--access-key-id", default=None, help="Revoke one set of credentials.")
@click.option("--user", "user_name", default=None, help="Revoke every credential of a member.")
@click.pass_context
def credentials_revoke(
    ctx: click.Context, access_key_id: str | None, user_name: str | None
) -> None:
    """Revoke temporary credentials, effective within seconds on every replica."""
    if (access_key_id is None) == (user_name is None):
        raise click.UsageError("give exactly one of --access-key-id or --user")
    with _service(ctx) as service:
        if access_key_id is not None:
            service.credentials.revoke_key(access_key_id)
        else:
            assert user_name is not None
            service.credentials.revoke_member(user_name)
    click.echo("revoked", err=True)


# instance tokens


@cli.group()
def token() -> None:
    """Long-lived instance tokens that notebook instances exchange for credentials."""


@token.command("issue")
@click.argument("name")
@click.option("--expires", default="30d", show_default=True, help="Lifetime: 30d, 12h, or never.")
@click.option("--label", default="", help="What the token is for.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the token to this file (mode 0600) instead of stdout.",
)
@click.pass_context
def token_issue(
    ctx: click.Context, name: str, expires: str, label: str, output: Path | None
) -> None:
    """Issue an instance token; it is the only line printed on stdout (keep it secret), or
    the content of --output, a file only its owner can read."""
    from lakestow.services import parse_duration

    seconds = None if expires == "never" else parse_duration(expires, longest=TOKEN_MAX_SECONDS)
    with _service(ctx) as service:
        issued = service.credentials.issue_token(name, seconds=seconds, label=label)
    if output is None:
        click.echo(issued)
        return
    _write_private(output, issued + "\n")
    click.echo(f"wrote the token of {name} to {output} (mode 0600)", err=True)


def _write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, a file only its owner may read, even one that existed."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as out:
        os.fchmod(fd, 0o600)
        out.write(text)


@token.command("revoke")
@click.argument("name")
@click.option("--id", "token_id", type=int, default=None, help="Only this token (else all).")
@click.pass_context
def token_revoke(ctx: click.Context, name: str, token_id: int | None) -> None:
    """Revoke a member's instance tokens (all, or one by id)."""
    with _service(ctx) as service:
        count = service.credentials.revoke_tokens(name, token_id)
    click.echo(f"revoked {count} token(s) of {name}", err=True)


@token.command("list")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def token_list(ctx: click.Context, name: str, as_json: bool) -> None:
    """List a member's instance tokens (never the tokens themselves)."""
    with _service(ctx) as service:
        rows = [t.as_row() for t in service.credentials.list_tokens(name)]
    _print_rows(rows, ["id", "label", "created", "expires", "revoked"], as_json)


@cli.command("aws-credentials")
@click.option("--server", required=True, help="The lakestow console/API URL.")
@click.option(
    "--token-file", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
def aws_credentials(server: str, token_file: Path) -> None:
    """Print fresh credentials as an AWS credential_process document (for ~/.aws/config)."""
    import json

    from lakestow.client import exchange_token, read_token

    document = exchange_token(server, read_token(token_file))
    click.echo(json.dumps(document["credentials"]))


# operators


@cli.group()
def operator() -> None:
    """Operators: long-lived keys for plain S3 buckets outside every organization."""


@operator.command("create")
@click.argument("name")
@click.option("--format", "fmt", type=click.Choice(["json", "text"]), default="text")
@click.pass_context
def operator_create(ctx: click.Context, name: str, fmt: str) -> None:
    """Create an operator; prints its key pair (the secret is shown only this once)."""
    with _service(ctx) as service:
        made = service.operators.create_operator(name)
    access_key_id, secret = made.access_key_id, made.secret_access_key
    if fmt == "json":
        import json

        click.echo(json.dumps({"AccessKeyId": access_key_id, "SecretAccessKey": secret}, indent=2))
    else:
        click.echo(f"aws_access_key_id = {access_key_id}\naws_secret_access_key = {secret}")


@operator.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def operator_list(ctx: click.Context, as_json: bool) -> None:
    """List operators (never their secrets)."""
    with _service(ctx) as service:
        rows = [o.as_row() for o in service.operators.list_operators()]
    _print_rows(rows, ["name", "access_key_id", "disabled"], as_json)


@operator.command("disable")
@click.argument("name")
@click.pass_context
def operator_disable(ctx: click.Context, name: str) -> None:
    """Disable an operator: its key is refused from now on."""
    with _service(ctx) as service:
        service.operators.set_operator_disabled(name)
    click.echo(f"disabled {name}", err=True)


# environment


@cli.command("env")
@click.argument("name")
@click.pass_context
def env(ctx: click.Context, name: str) -> None:
    """Print the environment of a member's notebook instance, as export lines."""
    settings = _settings(ctx)
    with _service(ctx) as service:
        member = service.orgs.get_member(name)
    exports = {
        **member.paths,
        "AWS_ENDPOINT_URL": _s3_url(settings),
        "AWS_DEFAULT_REGION": settings.region,
        "AWS_REGION": settings.region,
    }
    click.echo(_exports(exports), nl=False)


@cli.command("audit")
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def audit_log(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Show the newest lines of the audit log."""
    with _service(ctx) as service:
        rows = [entry.as_json() for entry in service.audit_log(limit)]
    _print_rows(rows, ["at", "actor", "action", "target", "outcome"], as_json)


def _s3_url(settings: config.Settings) -> str:
    """The S3 endpoint to give members: `public_s3_url` when set; else the address the server
    running on this data directory listens on (`serve --s3-address` may have named one this
    command cannot know); else the configured address."""
    from lakestow import datadir

    if settings.public_s3_url:
        return settings.resolved_public_s3_url
    served = datadir.served_urls(settings.data_dir) or {}
    url = served.get("s3_url")
    return url if isinstance(url, str) and url else settings.resolved_public_s3_url


def _exports(values: dict[str, str], comment: str | None = None) -> str:
    import shlex

    lines = [f"# {comment}"] if comment else []
    lines += [f"export {name}={shlex.quote(value)}" for name, value in values.items()]
    return "\n".join(lines) + "\n"


def _print_rows(rows: list[dict[str, object]], columns: list[str], as_json: bool) -> None:
    if as_json:
        import json

        click.echo(json.dumps(rows, indent=2))
        return
    table = [columns] + [[str(row[c]) for c in columns] for row in rows]
    widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
    for line in table:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip())


_register_sync_commands()
