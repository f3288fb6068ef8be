"""The one registry of an app: everything the areas plug into the core, in typed stores.

`create_app` makes an empty `Registry`, then calls each area's `init_app(app)` in turn
(`mediation.cases`, `mediation.sessions`, `mediation.supervision`, `referrals`,
`realtime`); each registers what it brings. Nothing registers when a module is imported,
so two apps in one process (the tests build hundreds) never see each other's entries,
and the order in which modules happen to be imported changes nothing.

The set of stores is fixed (a misspelt store is an AttributeError, not a new store), and
registering a key twice raises: two areas claiming one page section, event type or label
group is a mistake to hear about at start-up, not a silent last-one-wins.

    from mediation.registry import registry
    registry(app).case_sections.register("case_sessions", Section(...))
    for section in registry().case_sections.values(): ...
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Generic, TypeVar

from flask import Flask, current_app

T = TypeVar("T")
EXTENSION = "mediation.registry"


class DuplicateRegistration(KeyError):
    """A key registered twice in one store."""

    def __str__(self) -> str:
        return str(self.args[0])


class UndeclaredEventType(LookupError):
    """An event type the app's catalogue (`event_types`) does not hold."""

    def __str__(self) -> str:
        return f"event type {self.args[0]!r} is not declared in the event catalogue"


class Store(Generic[T]):
    """One kind of thing, by key, in registration order."""

    def __init__(self, name: str, doc: str) -> None:
        self.name = name
        self.doc = doc
        self._items: dict[str, T] = {}

    def register(self, key: str, value: T) -> T:
        """Add `value` under `key`; a key already taken raises `DuplicateRegistration`."""
        if key in self._items:
            raise DuplicateRegistration(f"{self.name}: {key!r} is already registered")
        self._items[key] = value
        return value

    @contextmanager
    def scoped(self, key: str, value: T) -> Iterator[T]:
        """Register `value` for the duration of a `with` block, then remove it: for tests,
        which share one app across many tests."""
        self.register(key, value)
        try:
            yield value
        finally:
            del self._items[key]

    def get(self, key: str, default: T | None = None) -> T | None:
        return self._items.get(key, default)

    def __getitem__(self, key: str) -> T:
        return self._items[key]

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def keys(self) -> list[str]:
        return list(self._items)

    def values(self) -> list[T]:
        return list(self._items.values())

    def items(self) -> list[tuple[str, T]]:
        return list(self._items.items())

    def __repr__(self) -> str:
        return f"<Store {self.name}: {len(self._items)}>"


# name -> what it holds. The one list of the kinds of things an area may plug in.
STORES: dict[str, str] = {
    "event_types": "the event catalogue: name -> events.EventType",
    "audiences": "who sees an event, among those who see its case: name -> events.Audience",
    "labels": "the words for a group of codes: group -> {code: lazy words} (labels.label)",
    "permission_rules": "the permission table: action name -> permissions.Rule",
    "case_access": "rules granting sight of cases: name -> fn(user) -> SELECT of case ids | None",
    "case_sections": "parts of the case page: name -> pages.Section",
    "board_columns": "columns of the officer's board: name -> pages.BoardColumn",
    "board_panels": "panels beside the board: name -> pages.BoardPanel",
    "board_filters": "filters the areas add to the board: name -> cases.board_pages.BoardFilter",
    "nav_links": "links in the top bar: endpoint -> web.NavLink",
    "publishers": "live delivery of committed events: name -> fn(envelopes)",
    "periodic_jobs": "sweeps the embedded server loop runs: name -> fn()",
    "beat": "sweeps Celery beat runs: name -> (task name, seconds)",
    "readiness_checks": "extra /readyz checks: name -> fn(app) -> 'ok' | reason",
    "post_checks": "checks before a chat message is stored: name -> fn(actor)",
    "channels": "messaging channels: name -> realtime.messaging.Channel",
    "provider_sources": "where sessions learn about providers: name -> sessions.sources.ProviderSource",
    "needs_hooks": "called when a case's needs change: name -> fn(case, actor)",
    "demo_loaders": "demo data of the areas: name -> fn(users by name)",
    "serving_hooks": "what a serving process starts beside its requests: name -> fn(app)",
    "gauges": "extra /metrics gauges: name -> (help text, fn(app) -> float | None)",
    "access_listeners": "re-check live connections when access changes: name -> fn(user_ids, case_ids)",
    "append_hooks": "called in each append's transaction with the new events: name -> fn(session, events)",
    "document_targets": "records documents attach to: name -> documents.targets.AttachTarget",
    "encrypted_columns": "columns encrypted with the PII keys: 'table.column' -> (model, attribute name)",
}


class Registry:
    """The app's stores (see `STORES`); one per app, made by `create_app`."""

    __slots__ = tuple(STORES)

    event_types: Store[Any]
    audiences: Store[Any]
    labels: Store[Any]
    permission_rules: Store[Any]
    case_access: Store[Any]
    case_sections: Store[Any]
    board_columns: Store[Any]
    board_panels: Store[Any]
    board_filters: Store[Any]
    nav_links: Store[Any]
    publishers: Store[Any]
    periodic_jobs: Store[Any]
    beat: Store[tuple[str, float]]
    readiness_checks: Store[Any]
    post_checks: Store[Any]
    channels: Store[Any]
    provider_sources: Store[Any]
    needs_hooks: Store[Any]
    demo_loaders: Store[Any]
    serving_hooks: Store[Any]
    gauges: Store[Any]
    access_listeners: Store[Any]
    append_hooks: Store[Any]
    document_targets: Store[Any]
    encrypted_columns: Store[tuple[Any, str]]

    def __init__(self) -> None:
        for name, doc in STORES.items():
            object.__setattr__(self, name, Store(name, doc))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("the registry's stores are fixed; register into one of them")

    def stores(self) -> dict[str, Store[Any]]:
        return {name: getattr(self, name) for name in STORES}

    def event_type(self, type_: Any) -> Any:
        """The declared event type of that name, or that very declared type (an
        `events.EventType`); anything else raises `UndeclaredEventType`. Here rather than in
        `mediation.events` so that the timeline checks its appends without importing it."""
        name = type_ if isinstance(type_, str) else getattr(type_, "name", str(type_))
        found = self.event_types.get(name)
        if found is None or (not isinstance(type_, str) and found is not type_):
            raise UndeclaredEventType(name)
        return found


def init_app(app: Flask) -> Registry:
    """Give the app its (empty) registry; the areas' `init_app` fill it."""
    if EXTENSION in app.extensions:
        raise DuplicateRegistration("this app already has its registry")
    reg = Registry()
    app.extensions[EXTENSION] = reg
    return reg


def registry(app: Flask | None = None) -> Registry:
    """The registry of `app`, or of the current app."""
    return (app if app is not None else current_app).extensions[EXTENSION]
