"""The Socket.IO packet this app's server sends: the stock one, encoding its JSON once.

Before encoding, the stock packet walks every value of its data in Python looking for
bytes (to send them as binary attachments); for a catch-up of a thousand envelopes that
walk costs more than the JSON encoding itself. This packet encodes first: the JSON
encoder refuses bytes, so a packet that encodes holds none, and the text is kept for
`encode`; only one that does not is walked (and sent with attachments, as before).
"""

from __future__ import annotations

from typing import Any

from socketio import packet


class LivePacket(packet.Packet):
    """`socketio.packet.Packet`, with its JSON text computed once, by the check for bytes."""

    _text: tuple[Any, str] | None = None  # (the data encoded, its JSON text)

    def data_is_binary(self, data: Any) -> bool:  # type: ignore[override]
        # Called by the constructor (as self.data_is_binary) on the data to send.
        try:
            text = self.json.dumps(data, separators=(",", ":"))
        except TypeError:  # bytes somewhere (or something else JSON refuses): the stock way
            return packet.Packet.data_is_binary(data)
        self._text = (data, text)
        return False

    def encode(self) -> Any:
        cached = self._text
        if (cached is None or cached[0] is not self.data
                or self.packet_type in (packet.BINARY_EVENT, packet.BINARY_ACK)):
            return super().encode()
        encoded = str(self.packet_type)
        if self.namespace is not None and self.namespace != "/":
            encoded += self.namespace + ","
        if self.id is not None:
            encoded += str(self.id)
        if self.data is not None:
            encoded += cached[1]
        return encoded
