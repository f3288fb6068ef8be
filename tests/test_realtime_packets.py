"""The server's Socket.IO packet: the same bytes on the wire as the stock packet's."""

from __future__ import annotations

import pytest
from socketio import packet

from realtime.packets import LivePacket, RawJSON

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


def test_raw_json_is_spliced_into_the_packet_as_it_is():
    raw = RawJSON('[{"seq":1,"data":{"body":"请补充材料 \\"quoted\\""}},{"seq":2,"data":null}]')
    data = [{"ok": True, "missed": raw, "more": False, "note": "\x00not a marker\x00"}]
    text = LivePacket(packet.ACK, data=data, namespace="/", id=7).encode()
    assert raw.text in text  # not decoded and encoded again
    decoded = LivePacket(encoded_packet=text)
    assert decoded.id == 7 and decoded.data == [{
        "ok": True, "missed": [{"seq": 1, "data": {"body": '请补充材料 "quoted"'}},
                               {"seq": 2, "data": None}],
        "more": False, "note": "\x00not a marker\x00"}]


def test_several_raw_json_values_each_keep_their_place():
    data = ["event", {"a": RawJSON("[1,2]"), "b": [RawJSON('"x"'), RawJSON("{}")], "c": "\x000:0\x00"}]
    decoded = LivePacket(encoded_packet=LivePacket(packet.EVENT, data=data).encode())
    assert decoded.data == ["event", {"a": [1, 2], "b": ["x", {}], "c": "\x000:0\x00"}]


def test_a_packet_with_an_object_json_refuses_still_fails_beside_raw_json():
    pkt = LivePacket(packet.EVENT, data=["event", {"raw": RawJSON("1"), "at": object()}])
    with pytest.raises(TypeError):
        pkt.encode()
