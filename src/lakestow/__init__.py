"""lakestow: the self-hosted storage layer of a data platform."""

__version__ = "0.1.0"
