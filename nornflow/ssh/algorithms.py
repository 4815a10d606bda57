"""Key exchanges, ciphers, MACs and host-key types: today's by default, older ones by opt-in.

asyncssh and paramiko both still offer SHA-1 key exchanges, CBC ciphers and ``ssh-rsa`` host
keys by default. NornFlow offers neither on its own: a device that speaks only those (many IOS
boxes of the 2010s) fails with :class:`~nornflow.ssh.errors.LegacyAlgorithmsRequired`, naming what
it offered, until its host or group sets ``ssh.legacy_algorithms: true``.
"""

from __future__ import annotations

from typing import Any

from nornflow.ssh.errors import LegacyAlgorithmsRequired

MODERN_KEX = ("curve25519-sha256", "curve25519-sha256@libssh.org", "ecdh-sha2-nistp256", "ecdh-sha2-nistp384",
              "ecdh-sha2-nistp521", "diffie-hellman-group-exchange-sha256", "diffie-hellman-group16-sha512",
              "diffie-hellman-group18-sha512", "diffie-hellman-group14-sha256")
MODERN_CIPHERS = ("chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-gcm@openssh.com",
                  "aes256-ctr", "aes192-ctr", "aes128-ctr")
MODERN_MACS = ("hmac-sha2-256-etm@openssh.com", "hmac-sha2-512-etm@openssh.com", "hmac-sha2-256", "hmac-sha2-512")
MODERN_HOST_KEYS = ("ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
                    "rsa-sha2-512", "rsa-sha2-256")

LEGACY_KEX = ("diffie-hellman-group14-sha1", "diffie-hellman-group-exchange-sha1", "diffie-hellman-group1-sha1")
LEGACY_CIPHERS = ("aes128-cbc", "aes192-cbc", "aes256-cbc", "3des-cbc")
LEGACY_MACS = ("hmac-sha1",)
LEGACY_HOST_KEYS = ("ssh-rsa",)

_KINDS = {"key exchange": "key exchanges", "encryption": "ciphers", "MAC": "MACs",
          "server host key": "host key types", "host key": "host key types"}


def asyncssh_options(legacy: bool) -> dict[str, Any]:
    """``asyncssh.connect`` keyword arguments offering today's algorithms (and the older ones if ``legacy``)."""
    extra = legacy
    return {
        "kex_algs": [*MODERN_KEX, *(LEGACY_KEX if extra else ())],
        "encryption_algs": [*MODERN_CIPHERS, *(LEGACY_CIPHERS if extra else ())],
        "mac_algs": [*MODERN_MACS, *(LEGACY_MACS if extra else ())],
        "server_host_key_algs": [*MODERN_HOST_KEYS, *(LEGACY_HOST_KEYS if extra else ())],
        "signature_algs": [*MODERN_HOST_KEYS, *(LEGACY_HOST_KEYS if extra else ())],
    }


def paramiko_disabled(legacy: bool) -> dict[str, list[str]]:
    """paramiko's ``disabled_algorithms``: what it would offer beyond today's unless ``legacy``."""
    from paramiko import Transport

    def beyond(offered: tuple[str, ...], modern: tuple[str, ...], old: tuple[str, ...]) -> list[str]:
        allowed = set(modern) | (set(old) if legacy else set())
        return [a for a in offered if a not in allowed]

    return {
        "kex": beyond(Transport._preferred_kex, MODERN_KEX, LEGACY_KEX),
        "ciphers": beyond(Transport._preferred_ciphers, MODERN_CIPHERS, LEGACY_CIPHERS),
        "macs": beyond(Transport._preferred_macs, MODERN_MACS, LEGACY_MACS),
        "keys": beyond(Transport._preferred_keys, MODERN_HOST_KEYS, LEGACY_HOST_KEYS),
        "pubkeys": [] if legacy else ["ssh-rsa", "ssh-dss"],
    }


def _hint(where: str) -> str:
    return (f"{where} offers only algorithms NornFlow does not offer by default (older devices often speak "
            f"only {LEGACY_KEX[0]}, {LEGACY_CIPHERS[0]} and {LEGACY_HOST_KEYS[0]} host keys); upgrade its SSH "
            f"settings, or set ssh.legacy_algorithms: true on that host or its group in the inventory")


def _ours(legacy: bool) -> set[str]:
    return {name for names in asyncssh_options(legacy).values() for name in names}


def explain(exc: BaseException, where: str, legacy: bool) -> LegacyAlgorithmsRequired | None:
    """A clear error when ``exc`` is a failed algorithm negotiation (asyncssh or paramiko), else None.

    asyncssh says "No matching <kind> algorithm found, sent A and received B" on whichever side
    failed first: on ours A is what we offered; when the device failed first and said so in its
    disconnect, A is the device's list. The device's list is the one that is not ours. A device
    that drops the connection without a word during the handshake ("Connection lost") may be the
    same old box (or one refusing for another reason): the error says so, as a possibility.
    """
    text = str(exc)
    if text.startswith("No matching "):
        kind = text[len("No matching "):].split(" algorithm", 1)[0]
        sent, _, received = text.partition(" found, sent ")[2].partition(" and received ")
        ours = _ours(legacy)

        def names(listed: str) -> list[str]:  # less the markers, which are not algorithms
            return [a for a in listed.split(",") if a and not a.startswith(("ext-info-", "kex-strict-"))]

        device = names(received) if not set(names(received)) <= ours or set(names(sent)) <= ours else names(sent)
        offered, label = ",".join(device), _KINDS.get(kind, kind)
        if legacy:
            return LegacyAlgorithmsRequired(f"{where}: no common {label} algorithm even with "
                                            f"ssh.legacy_algorithms on; the device offered {offered}")
        return LegacyAlgorithmsRequired(f"{_hint(where)} (device's {label}: {offered})")
    if "Incompatible ssh" in text:  # paramiko: "Incompatible ssh peer (no acceptable kex algorithm)"
        kind = text.split("(", 1)[-1].rstrip(")").removeprefix("no acceptable ")
        if legacy:
            return LegacyAlgorithmsRequired(f"{where}: no common algorithm ({kind}) even with ssh.legacy_algorithms on")
        return LegacyAlgorithmsRequired(f"{_hint(where)} (no acceptable {kind})")
    if type(exc).__name__ == "ConnectionLost" and not legacy:  # asyncssh: closed before the handshake ended
        return LegacyAlgorithmsRequired(
            f"{where} closed the connection during the SSH handshake, before any login, as a device does that "
            f"speaks only algorithms NornFlow does not offer by default (often {LEGACY_KEX[0]}, {LEGACY_CIPHERS[0]} "
            f"and {LEGACY_HOST_KEYS[0]} host keys); if it is one, upgrade its SSH settings or set "
            f"ssh.legacy_algorithms: true on that host or its group in the inventory")
    return None
