"""What a caller may do: roles as bundles of permissions (:mod:`.roles`), every Prefect route and the
permission it needs (:mod:`.routes`), the rules on a route's body and query (:mod:`.rules`), the checks
that need the parsed body or the server's state (:mod:`.guards`, :mod:`.decide`), and secrets in block
documents (:mod:`.blocks`, :mod:`.masking`)."""
