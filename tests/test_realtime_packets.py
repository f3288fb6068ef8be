"""The server's Socket.IO packet: the same bytes on the wire as the stock packet's."""

from __future__ import annotations

import pytest
from socketio import packet

from realtime.packets import LivePacket

ENVELOPE = {"case_id": 7, "seq": 3, "type": "message.posted", "at": "2026-01-01T00:00:00.000000Z",
            "actor": None, "data": {"channel": "case", "body": "请于周五前补充材料 \"quoted\""}}


@pytest.mark.parametrize("kind,data,namespace,id_", [
    (packet.EVENT, ["event", ENVELOPE], "/", None),
    (packet.ACK, [{"ok": True, "missed": [ENVELOPE] * 3, "more": False}], "/", 12),
    (packet.EVENT, ["event", ENVELOPE], "/other", 5),
    (packet.CONNECT, {"sid": "abc"}, "/", None),
    (packet.DISCONNECT, None, "/", None),
    (packet.EVENT, ["file", {"name": "a.pdf", "bytes": b"%PDF-1.7\x00\xff"}], "/", None),
    (packet.ACK, [{"parts": [b"one", bytearray(b"two")]}], "/", 4),
])
def test_a_live_packet_encodes_as_the_stock_packet_does(kind, data, namespace, id_):
    live, stock = (cls(kind, data=data, namespace=namespace, id=id_)
                   for cls in (LivePacket, packet.Packet))
    assert live.packet_type == stock.packet_type  # binary data still goes as attachments
    assert live.encode() == stock.encode()


def test_a_live_packet_refuses_what_json_refuses_when_it_is_encoded():
    pkt = LivePacket(packet.EVENT, data=["event", {"at": object()}])
    with pytest.raises(TypeError):
        pkt.encode()


def test_a_received_packet_decodes_and_encodes_back_the_same():
    text = '2/chat,9["post_message",{"case_id":1,"body":"hi"}]'
    pkt = LivePacket(encoded_packet=text)
    assert (pkt.namespace, pkt.id, pkt.data) == ("/chat", 9, ["post_message", {"case_id": 1, "body": "hi"}])
    assert pkt.encode() == text


def test_the_app_sends_live_packets(app):
    assert app.extensions["socketio"].server.packet_class is LivePacket
