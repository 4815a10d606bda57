"""The owner's admin page (``/admin``): users and their roles, tokens, the group-to-role mapping in effect
and the audit trail, with the CLI's rules for an owner (:mod:`.actions`), its HTML (:mod:`.pages`) and its
routes with their CSRF and origin checks (:mod:`.routes`)."""
