"""The app's one registry and its event catalogue: each app fills its own registry in
create_app (nothing registers at import), a key registered twice raises, every event type the
areas define is declared, and the catalogue is published in the OpenAPI document."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

import pytest
from flask_babel import lazy_gettext as _l

from mediation import labels, web
from mediation.events import PARTICIPANTS, Audience, EventType, declare
from mediation.pages import Section, register_case_section
from mediation.registry import STORES, DuplicateRegistration, Registry, registry
from tests.conftest import build_app


def test_each_app_has_its_own_registry_with_the_fixed_stores(app, tmp_path):
    other = build_app(f"sqlite:///{tmp_path / 'other.db'}", tmp_path / "instance")
    mine, theirs = registry(app), registry(other)
    assert mine is not theirs
    assert list(mine.stores()) == list(STORES)
    # Built again in the same process, the same things are registered, none twice: nothing
    # was registered when a module was imported.
    keys = {n: s.keys() for n, s in mine.stores().items()}
    assert {n: s.keys() for n, s in theirs.stores().items()} == keys
    with pytest.raises(AttributeError):
        mine.sections = {}  # a misspelt store is an error, not a new store
    assert len(mine.event_types) > 50 and "case_timeline" in mine.case_sections


def test_a_fresh_registry_is_empty():
    assert all(len(store) == 0 for store in Registry().stores().values())


def test_registering_a_key_twice_raises(app):
    with app.app_context():
        reg = registry()
        with pytest.raises(DuplicateRegistration, match="case_sections: 'case_timeline'"):
            register_case_section(app, Section("case_timeline", "again", lambda u, c: {}))
        with pytest.raises(DuplicateRegistration, match="labels: 'role'"):
            labels.register_groups(app, {"role": {"admin": "x"}})
        with pytest.raises(DuplicateRegistration, match="nav_links"):
            web.add_nav(app, "pages.home", "again", {"admin"})
        with pytest.raises(DuplicateRegistration, match="event_types: 'case.created'"):
            declare(app, EventType("case.created", "again"))
        # An audience is one object per name: another one under a taken name is refused.
        with pytest.raises(DuplicateRegistration, match="participants"):
            declare(app, EventType("test.other_audience", "x",
                                   audience=Audience("participants", lambda u, c, d: False)))
        assert "test.other_audience" not in reg.event_types
        # The event group's words come from the catalogue, not from a label group.
        with pytest.raises(ValueError):
            labels.register_groups(app, {"event": {"case.created": "x"}})


def _defined_event_types() -> dict[str, EventType]:
    """Every EventType constant in the areas' `events` modules."""
    found: dict[str, EventType] = {}
    root = Path(__file__).resolve().parent.parent
    for package in ("mediation", "referrals", "realtime"):
        for info in pkgutil.walk_packages([str(root / package)], f"{package}."):
            if info.name.endswith(".events"):
                module = importlib.import_module(info.name)
                found.update({v.name: v for v in vars(module).values() if isinstance(v, EventType)})
    return found


def test_every_event_type_an_area_defines_is_declared_and_the_same_object(app):
    defined = _defined_event_types()
    declared = registry(app).event_types
    assert sorted(defined) == sorted(declared.keys())
    assert all(declared[name] is t for name, t in defined.items())
    for t in defined.values():
        assert t.label and str(t.label) != t.name  # words for the pages
        assert t.audience in registry(app).audiences.values()


def test_the_openapi_document_publishes_the_catalogue(app):
    doc = app.test_client().get("/api/openapi.json").get_json()
    published = {t["name"]: t for t in doc["x-event-types"]}
    declared = registry(app).event_types
    assert sorted(published) == sorted(declared.keys())
    created = published["case.created"]
    assert created["label"] == {"zh_CN": "案件登记", "en": "Case taken in"}
    assert created["audience"] == PARTICIPANTS.name and created["progress"] is True
    assert published["reminder.due"]["progress"] is False and published["reminder.due"]["inbox"] is True
    assert published["referral.offered"]["audience"] == "referral"
    assert published["session.started"]["audience"] == "session_participants"
    assert published["pii.revealed"]["audience"] == "officials"
    assert published["referral.withdrawn"]["changes_access"] is True
    assert all(t["label"]["en"] and t["label"]["zh_CN"] and t["audience_doc"] for t in published.values())


def test_a_type_declared_for_a_test_only_is_gone_afterwards(app):
    noted = EventType("test.noted", _l("测试"))
    with registry(app).event_types.scoped(noted.name, noted):
        assert registry(app).event_type("test.noted") is noted
    assert "test.noted" not in registry(app).event_types
