"""Who is calling: a token or a browser session (:mod:`.caller`), the login and logout pages (:mod:`.login`,
:mod:`.pages`)."""
