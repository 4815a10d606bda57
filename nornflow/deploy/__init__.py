"""Deploying NornFlow: checks of deployment files, ``nornflow doctor``, automations, device locks.

A reader follows a deployment through the modules in this order: :mod:`.rules` (the checks
of one field), :mod:`.deployfile` (the checks of a whole file, offline), :mod:`.doctor`
(adds the checks that need the server), :mod:`.automations` (notifications from a YAML
spec) and :mod:`.locks` (the per-device concurrency limits change flows hold).

Nothing is imported here, so ``from nornflow.deploy.locks import DEVICE_LOCKS`` in a flow
does not load the checks.
"""
