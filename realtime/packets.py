"""The Socket.IO packet this app's server sends: the stock one, encoding its JSON once.

Before encoding, the stock packet walks every value of its data in Python looking for
bytes (to send them as binary attachments); for a catch-up of a thousand envelopes that
walk costs more than the JSON encoding itself. This packet encodes first: the JSON
encoder refuses bytes, so a packet that encodes holds none, and the text is kept for
`encode`; only one that does not is walked (and sent with attachments, as before).

A value may also be `RawJSON`: JSON text already composed (a catch-up's envelopes, built
around each event's stored JSON text), spliced into the packet's text as it is.
"""

from __future__ import annotations

import re
import secrets
from typing import Any

from socketio import packet


class RawJSON:
    """A value already encoded as JSON text, sent as it is. The text must be valid JSON:
    the caller composes it (the receiver decodes it as any other value)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"RawJSON({self.text[:40]!r}...)"


class LivePacket(packet.Packet):
    """`socketio.packet.Packet`, with its JSON text computed once, by the check for bytes."""

    _text: tuple[Any, str] | None = None  # (the data encoded, its JSON text)

    def data_is_binary(self, data: Any) -> bool:  # type: ignore[override]
        # Called by the constructor (as self.data_is_binary) on the data to send.
        raws: list[str] = []
        marker = ""

        def spliced(value: Any) -> str:
            # Each RawJSON becomes a string holding a marker no other string can hold
            # (NUL and a nonce drawn for this packet), replaced by its text afterwards.
            nonlocal marker
            if not isinstance(value, RawJSON):
                raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")
            if not marker:
                marker = secrets.token_hex(8)
            raws.append(value.text)
            return f"\0{marker}:{len(raws) - 1}\0"

        try:
            text = self.json.dumps(data, separators=(",", ":"), default=spliced)
        except TypeError:  # bytes somewhere (or something else JSON refuses): the stock way
            return packet.Packet.data_is_binary(data)
        if raws:
            pattern = re.compile(r'"\\u0000' + marker + r':(\d+)\\u0000"')
            text = pattern.sub(lambda m: raws[int(m.group(1))], text)
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
