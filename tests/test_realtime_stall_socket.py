"""The stall guard's socket on a local socket pair: what the peer takes at once goes without
waiting, what it does not take waits for it, and a peer that reads nothing for the whole
stall limit gets the connection shut down (no real server: fast)."""

from __future__ import annotations

import socket
import threading

import pytest

from realtime import stall


@pytest.fixture
def pair():
    ours, peer = socket.socketpair()
    yield ours, peer
    ours.close()
    peer.close()


def test_a_send_the_buffer_takes_goes_at_once_without_a_selector(pair, monkeypatch):
    ours, peer = pair

    def no_selector():
        raise AssertionError("a send the buffer takes whole needs no selector")

    monkeypatch.setattr(stall.selectors, "DefaultSelector", no_selector)
    guarded = stall.GuardedSocket(ours, 5.0, "peer")
    assert guarded.send(b"x" * 1000) == 1000
    guarded.sendall(b"y" * 10)
    assert peer.recv(4096) == b"x" * 1000 + b"y" * 10


def test_a_send_larger_than_the_buffer_waits_for_the_reader_and_goes_whole(pair):
    ours, peer = pair
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    data = bytes(range(256)) * 4096  # 1 MiB: many times the buffer
    received = bytearray()

    def read() -> None:
        while len(received) < len(data):
            chunk = peer.recv(65536)
            if not chunk:
                return
            received.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert stall.GuardedSocket(ours, 30.0, "peer").send(data) == len(data)
    reader.join(30)
    assert bytes(received) == data


def test_a_peer_that_reads_nothing_is_shut_down_after_the_stall(pair):
    ours, peer = pair
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    with pytest.raises(stall.SendStalled):
        stall.GuardedSocket(ours, 0.05, "peer").send(b"z" * (1 << 20))
    peer.settimeout(5)
    while peer.recv(65536):  # what was sent, then the end: the connection was shut down
        pass
