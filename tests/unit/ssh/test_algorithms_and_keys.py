"""Which algorithms are offered, how a failed negotiation reads, keys from text, known_hosts checks."""

from __future__ import annotations

from pathlib import Path

import asyncssh
import pytest

from nornflow.ssh import algorithms, hostkeys
from nornflow.ssh.errors import HostKeyChanged, HostKeyUnknown, PrivateKeyError
from nornflow.ssh.keys import asyncssh_key, paramiko_key


def test_older_algorithms_are_offered_only_on_opt_in() -> None:
    modern, legacy = algorithms.asyncssh_options(False), algorithms.asyncssh_options(True)
    assert "diffie-hellman-group14-sha1" not in modern["kex_algs"]
    assert "aes128-cbc" not in modern["encryption_algs"] and "ssh-rsa" not in modern["server_host_key_algs"]
    assert "diffie-hellman-group14-sha1" in legacy["kex_algs"] and "ssh-rsa" in legacy["server_host_key_algs"]
    disabled = algorithms.paramiko_disabled(False)
    assert "diffie-hellman-group14-sha1" in disabled["kex"] and "aes128-cbc" in disabled["ciphers"]
    assert "ssh-rsa" in disabled["keys"]
    assert "diffie-hellman-group14-sha1" not in algorithms.paramiko_disabled(True)["kex"]


def test_a_failed_negotiation_names_what_the_device_offers_and_the_opt_in() -> None:
    exc = asyncssh.KeyExchangeFailed("No matching key exchange algorithm found, sent curve25519-sha256 and received "
                                     "diffie-hellman-group14-sha1,ext-info-s,kex-strict-s-v00@openssh.com")
    text = str(algorithms.explain(exc, "r1 (10.0.0.1:22)", legacy=False))
    assert text.startswith("r1 (10.0.0.1:22) offers only algorithms NornFlow does not offer by default")
    assert text.endswith("(device's key exchanges: diffie-hellman-group14-sha1)")
    assert "ssh.legacy_algorithms: true" in text
    paramiko_text = str(algorithms.explain(Exception("Incompatible ssh peer (no acceptable kex algorithm)"), "r1",
                                           legacy=False))
    assert "(no acceptable kex algorithm)" in paramiko_text
    assert "even with ssh.legacy_algorithms on" in str(algorithms.explain(exc, "r1", legacy=True))
    assert algorithms.explain(ConnectionRefusedError("refused"), "r1", legacy=False) is None


def test_the_device_list_is_read_from_either_side_of_a_failed_negotiation() -> None:
    """The device failed first and said so in its disconnect: its own list is the one sent."""
    exc = asyncssh.KeyExchangeFailed("No matching key exchange algorithm found, sent diffie-hellman-group14-sha1 "
                                     "and received curve25519-sha256,ecdh-sha2-nistp256,ext-info-c")
    assert str(algorithms.explain(exc, "r1", legacy=False)).endswith(
        "(device's key exchanges: diffie-hellman-group14-sha1)")


def test_a_connection_dropped_in_the_handshake_names_the_possibility_and_the_opt_in() -> None:
    text = str(algorithms.explain(asyncssh.ConnectionLost("Connection lost"), "r1 (10.0.0.1:22)", legacy=False))
    assert text.startswith("r1 (10.0.0.1:22) closed the connection during the SSH handshake, before any login")
    assert "diffie-hellman-group14-sha1" in text and "aes128-cbc" in text and "ssh.legacy_algorithms: true" in text
    assert algorithms.explain(asyncssh.ConnectionLost("Connection lost"), "r1", legacy=True) is None


def test_keys_from_text_for_both_transports_and_clear_errors() -> None:
    key = asyncssh.generate_private_key("ssh-ed25519")
    text = key.export_private_key("openssh", passphrase="pp", rounds=1).decode()
    assert asyncssh_key(text, "pp").public_data == key.public_data
    assert paramiko_key(text, "pp").asbytes() == key.public_data
    with pytest.raises(PrivateKeyError, match=r"ssh\.private_key cannot be read: its passphrase is wrong"):
        paramiko_key(text, "nope")
    with pytest.raises(PrivateKeyError, match="it is encrypted and no passphrase was given"):
        asyncssh_key(text)
    with pytest.raises(PrivateKeyError, match=r"ssh\.jump_host\.private_key cannot be read: it is not an OpenSSH") as e:
        asyncssh_key("hunter2-not-a-key", field="ssh.jump_host.private_key")
    assert "hunter2" not in str(e.value)


def test_known_hosts_tell_unknown_from_changed(tmp_path: Path) -> None:
    good, bad = asyncssh.generate_private_key("ssh-ed25519"), asyncssh.generate_private_key("ssh-ed25519")
    path = tmp_path / "known_hosts"
    path.write_text(hostkeys.line("10.0.0.1", 2222, good) + "\n" + hostkeys.line("r2.example.net", 22, good) + "\n")
    assert hostkeys.entry_name("10.0.0.1", 2222) == "[10.0.0.1]:2222"
    hostkeys.verify("r1", "10.0.0.1", 2222, path, good)
    hostkeys.verify("r2", "r2.example.net", 22, path, good)
    with pytest.raises(HostKeyChanged) as changed:
        hostkeys.verify("r1", "10.0.0.1", 2222, path, bad)
    assert changed.value.fingerprint == hostkeys.fingerprint(bad.public_data)
    assert changed.value.known == (hostkeys.fingerprint(good.public_data),)
    with pytest.raises(HostKeyUnknown, match=r"host key of r3 \(10.0.0.3:22\) is not in "):
        hostkeys.verify("r3", "10.0.0.3", 22, path, good)
    path.write_text("")  # re-read when the file changes
    with pytest.raises(HostKeyUnknown):
        hostkeys.verify("r1", "10.0.0.1", 2222, path, good)
