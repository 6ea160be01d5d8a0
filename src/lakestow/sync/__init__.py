"""The sync agent: mirror a notebook home directory one way into the warehouse.

scan (walk the home) -> plan (pure: what to upload and delete) -> apply (against S3),
with a small SQLite state database in `HOME/.lakestow/state.db` remembering what was synced.
`restore` replicates the remote copy into the home; `instance` runs a notebook with both.
"""
