"""Click commands: `home restore`, `home sync` and `instance run`.

Register them in the main CLI with `cli.add_command(home); cli.add_command(instance)`.
S3 settings come from options or the usual AWS environment; credentials from a
`credential_process` command (refreshed before they expire) or the AWS environment / profile.
"""

from __future__ import annotations

import functools
import logging
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO, TypeVar

import click

from lakestow.sync.agent import RECONCILE_EVERY, Agent
from lakestow.sync.errors import SyncError
from lakestow.sync.outcome import Tuning
from lakestow.sync.plan import Options

if TYPE_CHECKING:
    from lakestow.sync.credentials import CredentialSource
    from lakestow.sync.restore import Progress

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class SyncSettings:
    """Where the remote copy is and how to reach it."""

    home: Path
    remote: str
    endpoint_url: str | None
    region: str
    profile: str | None
    credential_process: str | None
    workers: int
    reconcile_every: float

    def credential_source(self) -> CredentialSource:
        from lakestow.sync.credentials import EnvironmentCredentials, ProcessCredentials

        if self.credential_process:
            return ProcessCredentials(self.credential_process)
        return EnvironmentCredentials(self.profile)

    def agent(self, options: Options = Options()) -> Agent:  # noqa: B008 (frozen)
        from lakestow.sync.remote import Endpoint, Remote, parse_s3_uri

        try:
            bucket, prefix = parse_s3_uri(self.remote)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--remote") from exc
        endpoint = Endpoint(self.endpoint_url, self.region, self.credential_source(), self.workers)
        tuning = Tuning(workers=self.workers)
        remote = Remote(endpoint, bucket, prefix)
        return Agent(self.home, remote, options, tuning, reconcile_every=self.reconcile_every)


def s3_options(command: F) -> F:
    """The options every command shares; they arrive as one `settings` argument."""

    @click.option(
        "--home",
        type=click.Path(file_okay=False, path_type=Path),
        required=True,
        help="The home directory.",
    )
    @click.option(
        "--server",
        envvar="LAKESTOW_SERVER",
        help="The lakestow console/API URL: with --token-file, everything else is asked of it.",
    )
    @click.option(
        "--token-file",
        envvar="LAKESTOW_TOKEN_FILE",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="The instance token (`lakestow token issue`).",
    )
    @click.option(
        "--remote",
        envvar="LAKESTOW_SYNC_REMOTE",
        help="The notebooks folder: s3://BUCKET/PREFIX/notebooks/customer-ID/.",
    )
    @click.option("--endpoint-url", envvar="AWS_ENDPOINT_URL", help="The S3 endpoint.")
    @click.option(
        "--region",
        envvar=["AWS_REGION", "AWS_DEFAULT_REGION"],
        default="us-east-1",
        show_default=True,
    )
    @click.option("--profile", envvar="AWS_PROFILE", help="An AWS profile for credentials.")
    @click.option(
        "--credential-process",
        envvar="LAKESTOW_CREDENTIAL_PROCESS",
        help="A command printing credential_process JSON (refreshed before expiry).",
    )
    @click.option("--workers", default=32, show_default=True, help="Concurrent transfers.")
    @click.option(
        "--reconcile-every",
        default=RECONCILE_EVERY,
        show_default=True,
        help="Seconds between passes that list the remote copy, putting back what others "
        "deleted or rewrote and removing what they added (0: every pass).",
    )
    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> Any:
        names = (
            "home",
            "remote",
            "endpoint_url",
            "region",
            "profile",
            "credential_process",
            "workers",
            "reconcile_every",
        )
        _from_server(kwargs, kwargs.pop("server"), kwargs.pop("token_file"))
        if not kwargs["remote"]:
            raise click.UsageError("give --remote, or --server with --token-file")
        settings = SyncSettings(**{n: kwargs.pop(n) for n in names})
        try:
            return command(settings=settings, **kwargs)
        except SyncError as exc:
            raise click.ClickException(exc.message) from exc

    return wrapper  # type: ignore[return-value]


def _from_server(kwargs: dict[str, Any], server: str | None, token_file: Path | None) -> None:
    """Fill the S3 settings in from the server, which trades the token for credentials: the
    remote is the member's notebooks folder, and the credentials come (and refresh) through
    `lakestow aws-credentials`, for the agent and for CMD alike."""
    if server is None and token_file is None:
        return
    if server is None or token_file is None:
        raise click.UsageError("--server and --token-file go together")
    import shlex

    from lakestow.client import exchange_token, read_token

    answer = exchange_token(server, read_token(token_file))
    kwargs["remote"] = kwargs["remote"] or answer["paths"]["USER_NOTEBOOKS_PATH"]
    kwargs["endpoint_url"] = kwargs["endpoint_url"] or answer["s3_endpoint"]
    kwargs["region"] = answer["region"]
    kwargs["credential_process"] = shlex.join(
        [
            sys.executable,
            "-m",
            "lakestow",
            "aws-credentials",
            "--server",
            server,
            "--token-file",
            str(token_file.resolve()),
        ]
    )


def _logging() -> None:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s: %(message)s"
    )


def _progress(stream: TextIO | None = None) -> Progress | None:
    """A progress line for a restore, redrawn in place at most 10 times a second (and whenever
    every file begun is done), when `stream` (stderr) is a terminal; None (no progress shown)
    otherwise, as in a log. The caller ends the line."""
    out = stream or sys.stderr
    if not out.isatty():
        return None
    last = [0.0]

    def show(done: int, total: int, size: int) -> None:
        now = time.monotonic()
        if done == total or now - last[0] >= 0.1:
            last[0] = now
            out.write(f"\rrestore: {done}/{total} files, {size / 2**20:.1f} MiB")
            out.flush()

    return show


@click.group()
def home() -> None:
    """Restore the home directory from the warehouse, or sync it there."""


@home.command("restore")
@s3_options
@click.option(
    "--as-of",
    "as_of",
    type=click.DateTime(["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d"]),
    default=None,
    help="Restore every file as it was then (UTC, within the warehouse's retention), over "
    "the home's copy; the next sync makes those versions current.",
)
def home_restore(settings: SyncSettings, as_of: datetime | None) -> None:
    """Replicate the remote notebooks folder into --home (local edits are kept)."""
    moment = None if as_of is None else as_of.replace(tzinfo=UTC)
    progress = _progress()
    with settings.agent() as agent:
        result = agent.restore(progress, as_of=moment)
    if progress is not None:
        click.echo(err=True)  # the end of the progress line
    click.echo(
        f"restored {len(result.downloaded)} files ({result.bytes} bytes), {result.in_sync}"
        f" already in sync, {len(result.kept)} local versions kept, {len(result.errors)} errors",
        err=True,
    )
    for path, error in result.errors.items():
        click.echo(f"error: {path}: {error}", err=True)
    if result.errors:
        sys.exit(1)


@home.command("sync")
@s3_options
@click.option("--dry-run", is_flag=True, help="List what would change; change nothing.")
@click.option("--force", is_flag=True, help="Allow deleting more than half of the remote copy.")
@click.option("--checksum", is_flag=True, help="Compare content, not only size and mtime.")
@click.option(
    "--reconcile",
    is_flag=True,
    help="List the remote copy this pass (see --reconcile-every), whether or not it is due.",
)
def home_sync(
    settings: SyncSettings, dry_run: bool, force: bool, checksum: bool, reconcile: bool
) -> None:
    """One pass: upload what changed in --home, delete what was removed."""
    with settings.agent(Options(force=force, checksum=checksum)) as agent:
        _sync(agent, dry_run, reconcile)


def _sync(agent: Agent, dry_run: bool, reconcile: bool = False) -> None:
    if dry_run:
        plan, _ = agent.plan(reconcile or agent.reconcile_due())
        for u in plan.uploads:
            click.echo(f"upload ({u.reason}) {u.file.path}")
        for e in plan.deletes:
            click.echo(f"delete {e.path}")
        click.echo(plan.refused or plan.summary(), err=True)
        return
    result = agent.sync(reconcile)
    click.echo(result.line(), err=True)
    if not result.ok:
        for path, error in result.errors.items():
            click.echo(f"error: {path}: {error}", err=True)
        raise click.ClickException(result.refused or f"{len(result.errors)} errors")


@click.group()
def instance() -> None:
    """Notebook instances."""


@instance.command("run")
@s3_options
@click.option("--interval", default=120.0, show_default=True, help="Seconds between passes.")
@click.option("--force", is_flag=True, help="Allow deleting more than half of the remote copy.")
@click.option("--checksum", is_flag=True, help="Compare content, not only size and mtime.")
@click.option(
    "--stop-timeout",
    default=30.0,
    show_default=True,
    help="Seconds CMD gets to stop after SIGTERM before it is killed.",
)
@click.argument("command", nargs=-1, required=True)
def instance_run(
    settings: SyncSettings,
    interval: float,
    force: bool,
    checksum: bool,
    stop_timeout: float,
    command: tuple[str, ...],
) -> None:
    """Restore --home, run CMD in it (after --), sync every interval and once at the end."""
    from lakestow.sync.instance import ChildSettings, Instance

    _logging()
    child = ChildSettings(settings.endpoint_url, settings.region, settings.credential_process)
    with settings.agent(Options(force=force, checksum=checksum)) as agent:
        status = Instance(agent, command, child, interval, stop_timeout).run(_progress())
    sys.exit(status)


@click.group()
def main() -> None:
    """The sync agent alone (`python -m lakestow.sync`), before it joins `lakestow`."""


main.add_command(home)
main.add_command(instance)
