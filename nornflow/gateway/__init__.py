"""Team mode: a gateway in front of one Prefect server per workspace, with logins, tokens and an audit log.

``auth/`` who is calling, ``policy/`` what they may do, ``proxy/`` the way to the Prefect servers,
``audit/`` the record of what was done, ``store/`` users, tokens and sessions; :mod:`.app` puts them
together, :mod:`.serve` runs it, :mod:`.cli` is its commands, :mod:`.settings` its configuration.
"""
