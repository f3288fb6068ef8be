"""The event types of the petitioner's channel (the catalogue: `mediation/events.py`)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from mediation.events import OFFICIALS, EventType

# A receipt with a query code was handed to a petitioner (the code itself is never stored).
RECEIPT_ISSUED = EventType("petitioner.receipt_issued", _l("出具受理告知书"), audience=OFFICIALS,
                           progress=False)
# A party (a petitioner, or a respondent entered on the case) agreed to mediation: on the
# public page, or on paper / orally as recorded by an officer (人民调解法第十七条: voluntary).
CONSENTED = EventType("petitioner.consented", _l("当事人同意调解"))
# A respondent party (被申请人) was entered on the case, so that it has a channel of its own.
RESPONDENT_ADDED = EventType("petitioner.respondent_added", _l("登记被申请人"), audience=OFFICIALS)

ALL = (RECEIPT_ISSUED, CONSENTED, RESPONDENT_ADDED)
