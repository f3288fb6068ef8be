"""The event types of the petitioner's channel (the catalogue: `mediation/events.py`)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from mediation.events import OFFICIALS, EventType

# A receipt with a query code was handed to a petitioner (the code itself is never stored).
RECEIPT_ISSUED = EventType("petitioner.receipt_issued", _l("出具受理告知书"), audience=OFFICIALS,
                           progress=False)
# The petitioner agreed to mediation on the public page (人民调解法第十七条: voluntary).
CONSENTED = EventType("petitioner.consented", _l("当事人同意调解"))

ALL = (RECEIPT_ISSUED, CONSENTED)
