"""A provider's record (我的办案记录): its referrals past and current with counts by status,
outcome and month, through the API and the pages, exported to xlsx through the one safe
writer; admins and supervisors see any provider's, other providers none. And the page of
what a provider keeps of a case after completing its referral."""

from __future__ import annotations

import io

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from mediation.cases.models import Case
from mediation.clock import local_date
from mediation.extensions import db
from referrals.models import ProviderMember, Referral
from tests.factories import call
from tests.page_client import PageClient


def _referral_of(app, w, who: str) -> int:
    with app.app_context():
        return db.session.execute(sa.select(Referral.id).join(
            ProviderMember, ProviderMember.provider_id == Referral.provider_id).where(
            Referral.case_id == w.case_id, ProviderMember.user_id == w.users[who].id)).scalar_one()


def _provider_of(app, w, who: str) -> int:
    with app.app_context():
        return db.session.execute(sa.select(ProviderMember.provider_id).where(
            ProviderMember.user_id == w.users[who].id)).scalar_one()


@pytest.fixture
def completed(app, w):
    """The mediator's referral completed; the case's title looks like a formula."""
    with app.app_context():
        db.session.execute(sa.update(Case).where(Case.id == w.case_id).values(
            title="=HYPERLINK(\"http://x\",\"点我\")"))
        db.session.commit()
    rid = _referral_of(app, w, "mediator")
    r = call(w, "POST", f"/api/referrals/{rid}/complete", "mediator", {"outcome": "agreement_reached"})
    assert r.status_code == 200, r.get_json()
    return rid


def test_my_record_counts_by_status_outcome_and_month(app, w, completed):
    r = call(w, "GET", "/api/me/record", "mediator")
    assert r.status_code == 200, r.get_json()
    rec = r.get_json()
    assert rec["total"] == 1 and rec["by_status"] == {"completed": 1}
    assert rec["by_outcome"] == {"agreement_reached": 1}
    [row] = rec["referrals"]
    assert row["id"] == completed and row["case_id"] == w.case_id and row["record_until"] is not None
    with app.app_context():
        offered = db.session.get(Referral, completed).offered_at
        month = local_date(offered).strftime("%Y-%m")
    assert rec["by_month"] == [{"month": month, "offered": 1, "accepted": 1, "completed": 1}]
    assert rec["acceptance_rate"] == 1.0
    # The lawyer's record is the lawyer's alone.
    lawyer = call(w, "GET", "/api/me/record", "lawyer").get_json()
    assert lawyer["by_status"] == {"accepted": 1} and lawyer["by_outcome"] == {}
    assert call(w, "GET", "/api/me/record", "other_mediator").get_json()["total"] == 0
    # Not a provider: no record.
    assert call(w, "GET", "/api/me/record", "officer").status_code == 403


def test_a_provider_record_for_admins_supervisors_and_its_members(app, w, completed):
    pid = _provider_of(app, w, "mediator")
    for who in ("supervisor", "mediator"):
        r = call(w, "GET", f"/api/providers/{pid}/record", who)
        assert r.status_code == 200, (who, r.get_json())
        assert r.get_json()["by_outcome"] == {"agreement_reached": 1}
    for who in ("other_mediator", "lawyer", "officer", "lead", "party"):
        assert call(w, "GET", f"/api/providers/{pid}/record", who).status_code == 404, who
    assert call(w, "GET", "/api/providers/999999/record", "supervisor").status_code == 404


def test_the_record_page_and_its_export(app, w, completed):
    page = PageClient(app).sign_in(w.users["mediator"])
    html = page.text("/my-record")
    assert f'data-referral="{completed}"' in html and 'data-outcome="agreement_reached"' in html
    assert f'href="/referrals/{completed}/record"' in html
    r = page.get("/my-record.xlsx")
    assert r.status_code == 200 and r.mimetype.endswith("spreadsheetml.sheet")
    wb = load_workbook(io.BytesIO(r.data))
    sheet = wb.worksheets[0]
    title = sheet.cell(row=2, column=2)
    assert title.value.startswith("=HYPERLINK") and title.data_type == "s"  # text, never a formula
    assert [c.value for c in wb.worksheets[1][2]][1:] == [1, 1, 1]
    # Other roles: no such page.
    assert PageClient(app).sign_in(w.users["officer"]).get("/my-record").status_code == 404
    pid = _provider_of(app, w, "mediator")
    sup = PageClient(app).sign_in(w.users["supervisor"])
    assert f'data-referral="{completed}"' in sup.text(f"/providers/{pid}/record")
    assert sup.get(f"/providers/{pid}/record.xlsx").status_code == 200
    other = PageClient(app).sign_in(w.users["other_mediator"])
    assert other.get(f"/providers/{pid}/record").status_code == 404
    assert other.get(f"/providers/{pid}/record.xlsx").status_code == 404


def test_the_kept_record_page(app, w, completed):
    page = PageClient(app).sign_in(w.users["mediator"])
    html = page.text(f"/referrals/{completed}/record")
    assert 'data-type="referral.completed"' in html and 'id="kept-until"' in html
    assert page.get(f"/cases/{w.case_id}").status_code == 404  # the live case is gone
    for who in ("other_mediator", "lawyer", "officer"):
        assert PageClient(app).sign_in(w.users[who]).get(
            f"/referrals/{completed}/record").status_code == 404, who
