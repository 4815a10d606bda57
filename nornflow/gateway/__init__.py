"""Team mode: a gateway in front of one Prefect server per workspace, with logins, tokens and an audit log."""
