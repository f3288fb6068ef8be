"""The periodic re-check of live access reads every connection's rooms from one copy of
them: a room made by another thread's join while it reads does not break it (the
manager's own per-connection walk of the live dict of rooms raised RuntimeError then), and
what a connection may still see stays joined. In-process Socket.IO test clients: fast."""

from __future__ import annotations

from mediation.extensions import db
from mediation.users import User, token_hash
from realtime import eviction, rooms


class _RoomMadeMeanwhile(dict):
    """A room whose membership test, as another thread's join would, makes a new room in
    the namespace being read."""

    def __init__(self, namespace_rooms: dict) -> None:
        super().__init__()
        self._fwdm: dict = {}  # (what the manager copies its participants from)
        self._rooms = namespace_rooms

    def __contains__(self, sid: object) -> bool:
        self._rooms[f"made-meanwhile-{len(self._rooms)}"] = _RoomMadeMeanwhile(self._rooms)
        return False


def test_the_recheck_reads_the_rooms_once_and_keeps_what_is_still_seen(app, api, monkeypatch):
    officer = api.user("case_officer", "510104")
    case_id = api.case(officer)["id"]
    server = app.extensions["socketio"].server
    manager = server.manager
    # A connection as the connect and subscribe handlers leave it (its session saved, its
    # inbox and the case's rooms joined), without a socket under it.
    sid = manager.connect("eio-1", "/")
    joined = [rooms.user_room(officer.id), rooms.case_room(case_id)]
    for room in joined:
        manager.enter_room(sid, "/", room)
    saved = {"user_id": officer.id, "token_hash": token_hash(api.tokens[officer.id]), "generation": None}
    monkeypatch.setattr(server, "get_session", lambda s, namespace=None: saved)
    try:
        namespace_rooms = manager.rooms["/"]
        namespace_rooms["made-meanwhile"] = _RoomMadeMeanwhile(namespace_rooms)

        outcome = eviction.recheck(app, eviction.all_sids(server))

        assert outcome == {"disconnected": 0, "left": 0}
        assert set(joined) <= set(eviction.rooms_by_sid(server)[sid])
        # ... and one that may no longer see the case leaves its room (the re-check does read)
        with app.app_context():
            db.session.get(User, officer.id).region = "110101"
            db.session.commit()
        assert eviction.recheck(app, {sid}) == {"disconnected": 0, "left": 1}
        assert rooms.case_room(case_id) not in eviction.rooms_by_sid(server)[sid]
    finally:
        manager.disconnect(sid, "/")
