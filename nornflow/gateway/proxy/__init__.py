"""The way to a workspace's Prefect server: its process (:mod:`.upstream`), reading a request as Prefect
will (:mod:`.request`), HTTP hygiene (:mod:`.http`), what every answer carries (:mod:`.front`), forwarding
(:mod:`.forward`) and websockets (:mod:`.websocket`)."""
