"""The catalog: organizations, members, tokens, revocations and the audit log."""
