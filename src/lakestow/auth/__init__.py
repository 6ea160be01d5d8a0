"""Who may do what: SigV4, credentials, the warehouse policy, passwords."""
