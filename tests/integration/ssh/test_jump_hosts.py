"""Jump hosts on both session paths, through a real OpenSSH bastion in front of the lab."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from nornflow.lab import Lab
from nornflow.ssh.jump import ASYNC_BASTIONS, THREAD_BASTIONS
from tests.integration.ssh.conftest import SlowProxy, inventory, jump
from tests.integration.ssh.helpers import configs, errors, read_async, read_threaded
from tests.servers.sshd import SSHServer, keygen

pytestmark = pytest.mark.integration
PATHS = {"async": (read_async, ASYNC_BASTIONS), "threaded": (read_threaded, THREAD_BASTIONS)}


@pytest.mark.parametrize("path", PATHS)
def test_every_device_is_read_through_one_bastion_connection(path: str, lab: Lab, bastion: SSHServer,
                                                             tmp_path: Path) -> None:
    read, pool = PATHS[path]
    folder = inventory(lab, tmp_path, defaults_ssh={"jump_host": jump(bastion)})
    before = pool.connects
    got = read(folder)
    assert errors(got) == {}
    assert set(configs(got)) == set(lab.devices)
    assert all("hostname" in text or "host-name" in text for text in configs(got).values())
    assert pool.connects - before == 1  # one bastion connection, six device channels through it


@pytest.mark.parametrize("path", PATHS)
def test_a_bastion_that_refuses_the_login_fails_its_hosts_alone(path: str, lab: Lab, bastion: SSHServer,
                                                               tmp_path: Path) -> None:
    read, _ = PATHS[path]
    names = sorted(lab.devices)
    stranger = keygen(tmp_path / "stranger")  # a key the bastion does not know
    folder = inventory(lab, tmp_path / "inv", defaults_ssh={"jump_host": jump(bastion, stranger)},
                       host_ssh={names[0]: {"jump_host": None}})  # this one goes direct
    got = read(folder)
    failed = errors(got)
    assert set(failed) == set(names[1:])
    for text in failed.values():
        assert f"jump host {bastion.user}@127.0.0.1:{bastion.port} refused the login of {bastion.user}" in text
        assert "ssh.jump_host.private_key" in text
        assert "BEGIN OPENSSH" not in text and stranger.splitlines()[1] not in text
    assert names[0] in configs(got)


@pytest.mark.parametrize("path", PATHS)
def test_a_bastion_that_refuses_to_forward_names_the_device_and_the_setting(path: str, lab: Lab,
                                                                            bastion: SSHServer,
                                                                            tmp_path: Path) -> None:
    read, _ = PATHS[path]
    names = sorted(lab.devices)[:2]
    folder = inventory(lab, tmp_path, names=names, defaults_ssh={"jump_host": jump(bastion, bastion.refused_key)})
    failed = errors(read(folder))
    assert set(failed) == set(names)
    port = lab.devices[names[0]].port
    assert f"refused to forward to 127.0.0.1:{port}" in failed[names[0]]
    assert "AllowTcpForwarding" in failed[names[0]]


@pytest.mark.parametrize("path", PATHS)
def test_a_slow_bastion_within_the_socket_timeout_works_and_beyond_it_fails_clearly(
        path: str, lab: Lab, bastion: SSHServer, slow_proxy: Callable[[float], SlowProxy], tmp_path: Path) -> None:
    read, _ = PATHS[path]
    names = sorted(lab.devices)[:2]
    slow = slow_proxy(0.6)
    patient = inventory(lab, tmp_path / "patient", names=names, extras={"timeout_socket": 5},
                        defaults_ssh={"jump_host": {**jump(bastion), "port": slow.port}})
    started = time.perf_counter()
    assert errors(read(patient)) == {}
    assert time.perf_counter() - started >= 0.6
    slower = slow_proxy(0.6)  # another bastion address: the first one's connection is still shared
    hasty = inventory(lab, tmp_path / "hasty", names=names, extras={"timeout_socket": 0.2},
                      defaults_ssh={"jump_host": {**jump(bastion), "port": slower.port}})
    failed = errors(read(hasty))
    assert set(failed) == set(names)
    assert all("cannot be reached: no answer in time (timeout_socket)" in t for t in failed.values()), failed


def test_a_hundred_devices_through_one_bastion(bastion: SSHServer, tmp_path: Path) -> None:
    with Lab(size=100, directory=tmp_path / "lab") as big:
        folder = inventory(big, tmp_path / "inv", defaults_ssh={"jump_host": jump(bastion)})
        before = ASYNC_BASTIONS.connects
        started = time.perf_counter()
        got = read_async(folder, sessions=100)
        took = time.perf_counter() - started
        assert errors(got) == {}
        assert len(configs(got)) == 100
        assert ASYNC_BASTIONS.connects - before == 1
        assert took < 30, f"100 devices through one bastion took {took:.1f} s"


def test_max_channels_bounds_the_sessions_through_one_bastion(lab: Lab, bastion: SSHServer, tmp_path: Path) -> None:
    folder = inventory(lab, tmp_path, defaults_ssh={"jump_host": jump(bastion, max_channels=1)})
    most = 0
    done = threading.Event()

    def watch() -> None:
        nonlocal most
        while not done.is_set():
            most = max(most, len(lab.sessions()))
            time.sleep(0.002)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        got = read_async(folder, sessions=6)
    finally:
        done.set()
        watcher.join()
    assert errors(got) == {}
    assert most == 1  # six devices, one at a time through the bastion
