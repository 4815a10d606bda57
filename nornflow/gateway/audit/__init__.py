"""The audit trail: the hash-chained log (:mod:`.log`), its key and anchor (:mod:`.chain`), what is
redacted from it (:mod:`.redact`), its records as Prefect events (:mod:`.events`), and the commands that
read and verify it (:mod:`.commands`)."""
