"""Single sign-on for team mode: OpenID Connect (:mod:`.oidc`), LDAP / Active Directory (:mod:`.ldap`),
and the one mapping of a directory's groups to workspace roles both share (:mod:`.groups`).

Both only answer "who is this, and which groups are they in"; what a group grants is decided
once, in :mod:`.groups`, from the gateway's settings (:mod:`.settings`).
"""
