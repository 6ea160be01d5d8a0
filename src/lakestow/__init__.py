"""lakestow: the self-hosted storage layer of a data platform."""

__version__ = "0.1.0"

DATA_DIR_ENV = "LAKESTOW_DATA_DIR"
DEFAULT_DATA_DIR = "lakestow-data"
"""The data directory's environment variable and default (`config`), here so that the
`lakestow` command can name them without loading the settings."""
