"""Settings, declared once: they feed the config file, `LAKESTOW_*` variables and `--help`.

Precedence, lowest first: the default, `lakestow.toml` in the data directory, the environment
variable `LAKESTOW_<NAME>`, and a command-line flag where one exists.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from lakestow import DATA_DIR_ENV as DATA_DIR_ENV
from lakestow import DEFAULT_DATA_DIR as DEFAULT_DATA_DIR
from lakestow.errors import InvalidInput

CONFIG_FILE = "lakestow.toml"
DEFAULT_KEY_FILE = "keys/server.key"


def _setting(default: Any, help: str, *, secret: bool = False) -> Any:
    """A documented setting; a `secret` one stays out of reprs (tracebacks, logs)."""
    return field(default=default, repr=not secret, metadata={"help": help})


@dataclass(frozen=True)
class Settings:
    """Every setting of a lakestow server and of the admin commands."""

    data_dir: Path
    s3_address: str = _setting("127.0.0.1:9000", "HOST:PORT the S3 endpoint listens on.")
    console_address: str = _setting("127.0.0.1:9001", "HOST:PORT the web console listens on.")
    workers: int = _setting(
        0,
        "Worker processes serving both addresses over this data directory: 0, one per core "
        "(at most 8); 1, a single process.",
    )
    public_s3_url: str = _setting(
        "", "URL clients use to reach the S3 endpoint; empty: http://<s3_address>."
    )
    public_console_url: str = _setting(
        "", "URL members use to reach the console; empty: http://<console_address>."
    )
    region: str = _setting("us-east-1", "The region the S3 endpoint answers for.")
    catalog_url: str = _setting(
        "",
        "SQLAlchemy URL of the catalog; empty: SQLite file catalog.db in the data directory.",
        secret=True,  # may hold a password
    )
    store_url: str = _setting(
        "", "Object store URL (file:///path, s3://bucket/prefix); empty: objects/ in the data dir."
    )
    store_endpoint_url: str = _setting(
        "", "The s3 store's upstream endpoint URL; empty: AWS_ENDPOINT_URL, else AWS's own."
    )
    store_access_key_id: str = _setting(
        "", "Access key id for the s3 store's upstream; empty: the standard AWS chain."
    )
    store_secret_access_key: str = _setting(
        "",
        "Secret for the s3 store's upstream (better given as an environment variable).",
        secret=True,
    )
    store_region: str = _setting("", "Region of the s3 store's upstream; empty: AWS_REGION.")
    store_request_timeout: float = _setting(
        30.0,
        "Seconds the s3 store's upstream has to connect, and to answer a request (retries "
        "included; a request carrying a body gets a second more per MiB): past it, 503.",
    )
    conditional_writes: str = _setting(
        "auto",
        "Conditional writes (If-None-Match: *, If-Match) on an s3 store whose upstream does "
        "not enforce them, as found at start: auto, decided by lakestow under a lock on the key "
        "in the catalog; serialize, the same even where the upstream enforces them; refuse, "
        "answered 501.",
    )
    key_file: str = _setting(
        DEFAULT_KEY_FILE,
        "Server key file (mode 0600), the same for every replica; relative paths are under "
        "the data dir.",
    )
    credential_duration: int = _setting(3600, "Default lifetime of temporary credentials, seconds.")
    credential_max_duration: int = _setting(
        43200, "Longest lifetime a member may ask for, seconds (at most 12 hours)."
    )
    revocation_refresh: float = _setting(
        1.0,
        "Seconds between reloads of revocations and disabled members from the catalog (each "
        "worker and replica reloads a little more often than this).",
    )
    catalog_staleness: float = _setting(
        60.0,
        "Seconds the last revocations loaded keep serving S3 requests while the catalog "
        "cannot be reached; past it, requests are refused with 503 until a reload succeeds.",
    )
    trash_purge_interval: float = _setting(
        300.0,
        "Seconds between purges of what organizations' retention lets go of their trash "
        "(every replica purges; purging twice is harmless); 0: this server never purges.",
    )
    default_org: str = _setting("demo", "Organization created with a fresh data directory.")
    trusted_proxies: str = _setting(
        "",
        "Comma-separated addresses or networks of the load balancers in front: the client "
        "address they put in X-Forwarded-For is the one sign-in throttling counts; empty: "
        "trust none, use the connection's address.",
    )

    @property
    def config_path(self) -> Path:
        return self.data_dir / CONFIG_FILE

    @property
    def resolved_catalog_url(self) -> str:
        return self.catalog_url or f"sqlite:///{self.data_dir / 'catalog.db'}"

    @property
    def resolved_store_url(self) -> str:
        return self.store_url or (self.data_dir / "objects").resolve().as_uri()

    @property
    def store_options(self) -> dict[str, str]:
        """Connection options for the store: those set; the backend falls back to AWS's."""
        options = {
            "endpoint_url": self.store_endpoint_url,
            "access_key_id": self.store_access_key_id,
            "secret_access_key": self.store_secret_access_key,
            "region": self.store_region,
        }
        return {name: value for name, value in options.items() if value}

    @property
    def uses_data_dir(self) -> bool:
        """False for a replica whose catalog, store and key file are all elsewhere: it keeps
        nothing on its own disk (configured by its environment alone)."""
        return not (
            self.catalog_url and self.store_url and Path(self.key_file).expanduser().is_absolute()
        )

    @property
    def resolved_key_file(self) -> Path:
        return self.data_dir / Path(self.key_file).expanduser()

    @property
    def resolved_public_s3_url(self) -> str:
        return (self.public_s3_url or f"http://{self.s3_address}").rstrip("/")


def documented() -> list[tuple[str, Any, str]]:
    """(name, default, help) for every setting, in declaration order."""
    return [(f.name, f.default, f.metadata["help"]) for f in fields(Settings) if f.metadata]


def load(data_dir: Path, environ: Mapping[str, str] = os.environ, **overrides: Any) -> Settings:
    """Settings for `data_dir`: defaults, then its config file, the environment, `overrides`."""
    values: dict[str, Any] = {}
    if (data_dir / CONFIG_FILE).exists():
        values.update(_read_file(data_dir / CONFIG_FILE))
    values.update(_from_environ(environ))
    values.update({k: v for k, v in overrides.items() if v is not None})
    settings = replace(Settings(data_dir=data_dir), **values)
    _check(settings)
    return settings


def render_config(settings: Settings) -> str:
    """The text of a fresh config file: every setting with its help, commented defaults set."""
    lines = ["# lakestow configuration. Every setting can also be given as LAKESTOW_<NAME>.", ""]
    for name, _default, help in documented():
        lines.append(f"# {help}")
        lines.append(f"{name} = {_toml_value(getattr(settings, name))}")
        lines.append("")
    return "\n".join(lines)


def _read_file(path: Path) -> dict[str, Any]:
    import tomllib  # here: `lakestow home sync` and `--help` load no settings

    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path}: not valid TOML: {exc}") from exc
    known = {name for name, _, _ in documented()}
    unknown = sorted(set(data) - known)
    if unknown:
        raise InvalidInput(f"{path}: unknown setting(s): {', '.join(unknown)}")
    return {name: _coerce(name, value, str(path)) for name, value in data.items()}


def _from_environ(environ: Mapping[str, str]) -> dict[str, Any]:
    values = {}
    for name, _, _ in documented():
        raw = environ.get(f"LAKESTOW_{name.upper()}")
        if raw is not None:
            values[name] = _coerce(name, raw, f"LAKESTOW_{name.upper()}")
    return values


def _coerce(name: str, value: Any, source: str) -> Any:
    default: Any = next(f.default for f in fields(Settings) if f.name == name)
    kind: type = type(default)
    try:
        return kind(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{source}: {name} must be a {kind.__name__}, not {value!r}") from exc


CONDITIONAL_WRITES = ("auto", "serialize", "refuse")


def _check(settings: Settings) -> None:
    if settings.conditional_writes not in CONDITIONAL_WRITES:
        raise InvalidInput(
            f"conditional_writes is one of {', '.join(CONDITIONAL_WRITES)}, "
            f"not {settings.conditional_writes!r}"
        )
    if not 0 <= settings.workers <= 64:
        raise InvalidInput("workers must be 0 (one per core, at most 8) or from 1 to 64")
    if settings.trash_purge_interval < 0:
        raise InvalidInput("trash_purge_interval must be 0 (never) or a number of seconds")
    if not 0 < settings.credential_duration <= settings.credential_max_duration <= 43200:
        raise InvalidInput(
            "credential_duration must be positive and at most credential_max_duration, "
            "which is at most 43200 seconds (12 hours)"
        )


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
