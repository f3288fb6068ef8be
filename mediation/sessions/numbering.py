"""What a finalised agreement is and who issues it under which number (文号).

Decisions:
- An agreement one of whose parties is an administrative organ (role "organ", 行政机关), or
  mediated by a mediator of administrative mediation, is a 行政调解协议书: a dispute between
  a petitioner and an organ of government is not a civil dispute that a people's mediation
  committee may take under the People's Mediation Law (人民调解法 第2条), and its agreement
  is not one a court confirms under that law's 第33条. Every other agreement is a
  人民调解协议书.
- The issuer is the mediator's committee or organ: the directory entry through which the
  drafting mediator holds the accepted referral on the case. Without one (no directory),
  the service's own name for the issuer is "人民调解委员会" and the number runs under the key
  "service".
- The number is given when the agreement is finalised (its text is fixed then, and it is
  printed for signing): "〔2026〕人调字第12号" / "〔2026〕行调字第12号", counted per issuer per
  Beijing year, one counter for both kinds, by a conditional update of that issuer's row in
  the finalising transaction (concurrent finalisations wait on the row; the number is
  spent only if the finalisation commits).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from mediation import clock
from mediation.extensions import db
from mediation.sessions import sources
from mediation.sessions.models import Agreement, AgreementKind, AgreementNumber

# The words of each kind of document: its title, the abbreviation in its number, the
# sentence saying on what it rests, when it takes effect, and what a party may do next.
KINDS: dict[str, dict[str, str]] = {
    AgreementKind.PEOPLE: {
        "title": "人民调解协议书",
        "short": "人调字",
        "mediator": "人民调解员",
        "issuer_seal": "人民调解委员会（印章）",
        "basis": "依照《中华人民共和国人民调解法》，经人民调解委员会主持调解，"
                 "当事人自愿达成如下协议。",
        "effect": "本协议自各方当事人签名、盖章或者按指印，人民调解员签名并加盖人民调解委员会印章"
                  "之日起生效。",
        "copies": "本协议一式三份，双方当事人、人民调解委员会各执一份。",
        "remedy": "依照《中华人民共和国人民调解法》第三十三条，双方当事人可以自本协议生效之日起三十日内"
                  "共同向人民法院申请司法确认。",
    },
    AgreementKind.ADMINISTRATIVE: {
        "title": "行政调解协议书",
        "short": "行调字",
        "mediator": "行政调解员",
        "issuer_seal": "行政调解机关（印章）",
        "basis": "依照《信访工作条例》和行政调解的有关规定，经行政机关主持调解，"
                 "当事人自愿达成如下协议。",
        "effect": "本协议自各方当事人签名、盖章或者按指印，调解员签名并加盖行政调解机关印章"
                  "之日起生效。",
        "copies": "本协议一式三份，双方当事人、行政调解机关各执一份。",
        "remedy": "本协议为行政调解协议，不适用《中华人民共和国人民调解法》关于司法确认的规定。"
                  "当事人对履行有争议的，可以依法申请行政复议或者提起行政诉讼。",
    },
}
SERVICE_ISSUER = "人民调解委员会"
SERVICE_KEY = "service"


def kind_of(parties: list[dict], mediation_type: str | None) -> AgreementKind:
    """Administrative when a party is an administrative organ or the mediation is."""
    if mediation_type == "administrative" or any(p.get("role") == "organ" for p in parties or []):
        return AgreementKind.ADMINISTRATIVE
    return AgreementKind.PEOPLE


def issuer_of(case_id: int, mediator_id: int):
    """The directory entry the mediator acts for on the case, or None."""
    finder = getattr(sources.source(), "mediating_provider", None)
    return finder(case_id, mediator_id) if finder is not None else None


def next_number(issuer_key: str, year: int) -> int:
    """The issuer's next number in the year, taken inside the caller's transaction."""
    for _ in range(3):
        taken = db.session.execute(
            sa.update(AgreementNumber)
            .where(AgreementNumber.issuer_key == issuer_key, AgreementNumber.year == year)
            .values(last=AgreementNumber.last + 1)
            .returning(AgreementNumber.last)
            .execution_options(synchronize_session=False)).scalar()
        if taken is not None:
            return taken
        try:
            with db.session.begin_nested():
                db.session.add(AgreementNumber(issuer_key=issuer_key, year=year, last=1))
            return 1
        except IntegrityError:
            continue  # another finalisation made the row first: count on it
    raise RuntimeError("could not take an agreement number")  # pragma: no cover


def document_no(kind: str, year: int, number: int) -> str:
    return f"〔{year}〕{KINDS[kind]['short']}第{number}号"


def assign(agreement: Agreement) -> dict[str, str]:
    """Kind, issuer and number for an agreement being finalised (inside its transaction)."""
    entry = issuer_of(agreement.case_id, agreement.mediator_id)
    kind = kind_of(agreement.parties or [], getattr(entry, "mediation_type", None))
    year = clock.today().year
    key = f"provider:{entry.id}" if entry is not None else SERVICE_KEY
    number = next_number(key, year)
    return {"kind": kind.value, "issuer": entry.name if entry is not None else SERVICE_ISSUER,
            "document_no": document_no(kind, year, number)}
