"""Access ends when it should, on live connections too. A real python-socketio client on a
real socket against `mediation serve` in its own process (embedded, on the suite's database),
and two such processes joined by Redis: after a referral is withdrawn or completed, a case
is given another owner, a user is deactivated or a token revoked, the connection receives
no further events of that case and its posts are refused; a connection whose token is
revoked, or whose user is deactivated, is disconnected.

"No further events" is shown without waiting on a clock: after the change, an event is
written on the lost case and then one on a case the user still sees, through the same
server (one publisher, in order); when the second arrives, the first must not have."""

from __future__ import annotations

import datetime as dt
import itertools
import queue
import threading
import time
from collections.abc import Iterator

import pytest
import requests
import socketio

from mediation.extensions import db
from mediation.registry import registry
from mediation.users import User
from referrals import lifecycle
from tests.conftest import DB_KIND, build_app, drop_pg_database, make_pg_database
from tests.factories import World, make_case, make_provider, make_world
from tests.test_realtime_live import WAIT, LiveServer

pytestmark = pytest.mark.slow
_n = itertools.count(1)


class Client:
    """A Socket.IO client keeping what it is sent, and whether the server cut it off."""

    def __init__(self, base: str, token: str) -> None:
        self.events: queue.Queue = queue.Queue()
        self.gone = threading.Event()
        self.sio = socketio.Client(reconnection=False)
        self.sio.on("event", self.events.put)
        self.sio.on("disconnect", lambda *a: self.gone.set())
        self.sio.connect(base, auth={"token": token}, wait_timeout=WAIT, transports=["websocket"])

    def call(self, event: str, data: dict) -> dict:
        return self.sio.call(event, data, timeout=WAIT)

    def until(self, case_id: int, type_: str | None = None) -> list[dict]:
        """Everything received up to the first event of `case_id` (of `type_`), included."""
        got: list[dict] = []
        while True:
            envelope = self.events.get(timeout=WAIT)
            got.append(envelope)
            if envelope["case_id"] == case_id and (type_ is None or envelope["type"] == type_):
                return got

    def close(self) -> None:
        if self.sio.connected:
            self.sio.eio.ws.shutdown()


def refusal(base: str, token: str) -> str:
    """Why the server refuses a connection (its connect_error message)."""
    said: list = []
    sio = socketio.Client(reconnection=False)
    sio.on("connect_error", said.append)
    with pytest.raises(socketio.exceptions.ConnectionError):
        sio.connect(base, auth={"token": token}, wait_timeout=WAIT, transports=["websocket"])
    return str(said[0])


def post(server: LiveServer, path: str, token: str, body: dict | None = None) -> requests.Response:
    return requests.post(server.base + path, json=body or {}, timeout=WAIT,
                         headers={"Authorization": f"Bearer {token}"})


def put(server: LiveServer, path: str, token: str, body: dict) -> requests.Response:
    return requests.put(server.base + path, json=body, timeout=WAIT,
                        headers={"Authorization": f"Bearer {token}"})


def world(app) -> World:
    """Fresh people and two cases: a lawyer with accepted referrals on both, a lead
    official owning both, an admin, another lead official."""
    w = make_world(app, {"officer": ("case_officer", "510104"), "lawyer": ("lawyer", None),
                         "lead": ("lead_official", "510104"),
                         "other_lead": ("lead_official", "510104"), "admin": ("admin", None),
                         "mediator": ("mediator", None)})
    w.case_ids, w.referrals = [], []
    with app.app_context():
        officer, lawyer = db.session.get(User, w.officer.id), db.session.get(User, w.lawyer.id)
        mediator = db.session.get(User, w.mediator.id)
        provider = make_provider("lawyer", members=(lawyer,), specialities=["land_demolition"])
        mediators = make_provider("mediator", members=(mediator,))
        for _ in range(2):
            case = make_case(officer, needs=["legal_opinion", "economic_compensation"])
            r = lifecycle.request_referral(officer, case.id, "legal_opinion", provider_id=provider.id)
            lifecycle.accept(lawyer, r.id)
            m = lifecycle.request_referral(officer, case.id, "economic_compensation",
                                           provider_id=mediators.id)
            lifecycle.accept(mediator, m.id)
            w.case_ids.append(case.id)
            w.referrals.append(r.id)
        db.session.remove()
    for case_id in w.case_ids:
        owner = {"lead_official_id": w.lead.id, "level": "county"}
        assert put(SERVER, f"/api/cases/{case_id}/owner", w.tokens["officer"], owner).status_code == 200
    return w


def subscribed(base: str, token: str, *case_ids: int) -> Client:
    c = Client(base, token)
    for case_id in case_ids:
        assert c.call("subscribe", {"case_id": case_id, "after": 0})["ok"]
    return c


def assert_case_is_gone(c: Client, server: LiveServer, w: World, lost: int, kept: int) -> None:
    """Write on the lost case, then on the kept one: only the kept one's event arrives; and
    the connection can neither post to the lost case nor subscribe to it again."""
    officer = w.tokens["officer"]
    assert post(server, f"/api/cases/{lost}/messages", officer, {"body": "not for you"}).status_code == 201
    assert post(server, f"/api/cases/{kept}/messages", officer, {"body": "for you"}).status_code == 201
    got = c.until(kept, "message.posted")
    assert [e for e in got if e["case_id"] == lost and e["type"] == "message.posted"] == []
    ack = c.call("post_message", {"case_id": lost, "body": "let me in"})
    assert ack["ok"] is False and ack["code"] == 404
    assert c.call("subscribe", {"case_id": lost, "after": 0})["code"] == 404
    assert c.call("post_message", {"case_id": kept, "body": "still here"})["ok"] is True


SERVER: LiveServer


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[World]:
    global SERVER
    work = tmp_path_factory.mktemp("access")
    url = make_pg_database() if DB_KIND == "postgresql" else f"sqlite:///{work / 'access.db'}"
    app = build_app(url, work / "seed-instance")
    # Re-check every connection each second, for changes no queue carries (a command line
    # on the embedded database): the bound of the wait below, not something asserted.
    # kept here as well: the cluster's tests point SERVER at one of their own servers
    server = SERVER = LiveServer(work, url, MEDIATION_ACCESS_RECHECK_SECONDS="1",
                                 MEDIATION_MAX_SOCKETS_PER_USER="3").start()
    try:
        yield World(server=server, app=app)
    finally:
        server.stop()  # not SERVER: stopping the cluster's server again left this one running
        with app.app_context():
            db.engine.dispose()
        if DB_KIND == "postgresql":
            drop_pg_database(url)


def test_a_withdrawn_referral_ends_the_providers_live_view_of_the_case(live):
    server, w = live.server, world(live.app)
    lost, kept = w.case_ids
    c = subscribed(server.base, w.tokens["lawyer"], lost, kept)
    try:
        r = post(server, f"/api/referrals/{w.referrals[0]}/withdraw", w.tokens["officer"],
                 {"reason": "换一位律师"})
        assert r.status_code == 200, r.text
        # The withdrawal itself still reaches the provider it concerns.
        assert c.until(lost, "referral.withdrawn")[-1]["type"] == "referral.withdrawn"
        assert_case_is_gone(c, server, w, lost, kept)
    finally:
        c.close()


def test_a_withdrawn_provider_hears_no_more_of_a_session_it_was_invited_to(live):
    """A session's chat reaches its participants' inboxes without any subscription: a
    provider whose referral was withdrawn is no longer among them."""
    server, w = live.server, world(live.app)
    lost, kept = w.case_ids
    later = (dt.datetime.now(dt.UTC) + dt.timedelta(days=1)).isoformat()
    r = post(server, f"/api/cases/{lost}/sessions", w.tokens["mediator"],
             {"scheduled_at": later, "place": "调解室", "user_ids": [w.lawyer.id]})
    assert r.status_code == 201, r.text
    session_id = r.json()["id"]
    assert post(server, f"/api/sessions/{session_id}/start", w.tokens["mediator"]).status_code == 200
    c = subscribed(server.base, w.tokens["lawyer"], kept)
    try:
        said = post(server, f"/api/sessions/{session_id}/messages", w.tokens["mediator"],
                    {"body": "各方请发言"})
        assert said.status_code == 201, said.text
        assert c.until(lost, "session.message.posted")[-1]["data"]["body"] == "各方请发言"
        r = post(server, f"/api/referrals/{w.referrals[0]}/withdraw", w.tokens["officer"],
                 {"reason": "换一位律师"})
        assert r.status_code == 200, r.text
        assert post(server, f"/api/sessions/{session_id}/messages", w.tokens["mediator"],
                    {"body": "律师已退出"}).status_code == 201
        assert post(server, f"/api/cases/{kept}/messages", w.tokens["officer"],
                    {"body": "for you"}).status_code == 201
        got = c.until(kept, "message.posted")
        assert [e for e in got if e["type"] == "session.message.posted"] == []
        r = requests.get(f"{server.base}/api/sessions/{session_id}", timeout=WAIT,
                         headers={"Authorization": f"Bearer {w.tokens['lawyer']}"})
        assert r.status_code == 404
    finally:
        c.close()


def test_a_completed_referral_ends_it_too(live):
    server, w = live.server, world(live.app)
    lost, kept = w.case_ids
    c = subscribed(server.base, w.tokens["lawyer"], lost, kept)
    try:
        r = post(server, f"/api/referrals/{w.referrals[0]}/complete", w.tokens["lawyer"],
                 {"outcome": "service_given"})
        assert r.status_code == 200, r.text
        assert_case_is_gone(c, server, w, lost, kept)
    finally:
        c.close()


def test_a_new_owner_ends_the_former_lead_officials_live_view(live):
    server, w = live.server, world(live.app)
    lost, kept = w.case_ids
    c = subscribed(server.base, w.tokens["lead"], lost, kept)
    try:
        r = put(server, f"/api/cases/{lost}/owner", w.tokens["officer"],
                {"lead_official_id": w.other_lead.id, "level": "county"})
        assert r.status_code == 200, r.text
        assert_case_is_gone(c, server, w, lost, kept)
    finally:
        c.close()


def test_leaving_a_task_force_ends_the_members_live_view(live):
    """A member of a case's 工作专班 sees it live while a member; taken off, nothing more."""
    server, w = live.server, world(live.app)
    lost, kept = w.case_ids
    for case_id in (lost, kept):
        r = post(server, f"/api/cases/{case_id}/task-force", w.tokens["officer"],
                 {"user_id": w.other_lead.id, "role": "leader"})
        assert r.status_code == 201, r.text
    c = subscribed(server.base, w.tokens["other_lead"], lost, kept)
    try:
        r = requests.delete(f"{server.base}/api/cases/{lost}/task-force/{w.other_lead.id}", timeout=WAIT,
                            headers={"Authorization": f"Bearer {w.tokens['officer']}"})
        assert r.status_code == 204, r.text
        assert_case_is_gone(c, server, w, lost, kept)
    finally:
        c.close()


@pytest.mark.parametrize("how", ["deactivate", "revoke-tokens", "own-logout"])
def test_a_deactivated_user_or_a_revoked_token_is_disconnected(live, how):
    server, w = live.server, world(live.app)
    case_id = w.case_ids[0]
    c = subscribed(server.base, w.tokens["lawyer"], case_id)
    try:
        if how == "own-logout":
            r = requests.delete(server.base + "/api/auth/tokens", timeout=WAIT,
                                headers={"Authorization": f"Bearer {w.tokens['lawyer']}"})
            assert r.status_code == 204
        else:
            r = post(server, f"/api/users/{w.lawyer.id}/{how}", w.tokens["admin"])
            assert r.status_code == 200 and r.json()["tokens_revoked"] == 1
            assert r.json()["active"] is (how != "deactivate")
        assert c.gone.wait(WAIT), "the server closes the connection"
        # Nothing more can be done with that token, live or not.
        with pytest.raises(socketio.exceptions.ConnectionError):
            Client(server.base, w.tokens["lawyer"])
    finally:
        c.close()


def test_only_admins_manage_accounts_and_others_are_told_nothing_exists(live):
    server, w = live.server, world(live.app)
    for who in ("officer", "lead", "lawyer"):
        for user_id in (w.lawyer.id, 99999999):
            for how in ("deactivate", "revoke-tokens"):
                r = post(server, f"/api/users/{user_id}/{how}", w.tokens[who])
                assert r.status_code == 404, (who, user_id, how)
    assert post(server, "/api/users/99999999/deactivate", w.tokens["admin"]).status_code == 404
    r = requests.get(server.base + "/api/auth/me", timeout=WAIT,
                     headers={"Authorization": f"Bearer {w.tokens['lawyer']}"})
    assert r.status_code == 200  # nothing above touched the lawyer


def test_the_command_line_deactivates_and_the_connection_ends(live):
    """On the embedded database the command line reaches no server: the connection's next
    call is refused at once, and the server's own re-check closes it."""
    server, w = live.server, world(live.app)
    c = subscribed(server.base, w.tokens["lawyer"], w.case_ids[0])
    try:
        with live.app.app_context():
            name = db.session.get(User, w.lawyer.id).username
            db.session.remove()
        done = server.cli("users", "deactivate", name)
        assert done.returncode == 0 and "1 token(s) revoked" in done.stdout, done.stderr
        try:
            ack = c.call("post_message", {"case_id": w.case_ids[0], "body": "still me?"})
            assert ack == {"ok": False, "error": "not authenticated", "code": 401}
        except (socketio.exceptions.BadNamespaceError, socketio.exceptions.TimeoutError):
            pass  # the re-check was quicker and closed the connection first
        assert c.gone.wait(WAIT)
        missing = server.cli("users", "revoke-tokens", "nobody-by-this-name")
        assert missing.returncode == 1 and "no user named" in missing.stderr
    finally:
        c.close()


def test_connections_per_user_are_capped(live):
    server, w = live.server, world(live.app)
    token = w.tokens["officer"]
    open_ = [Client(server.base, token) for _ in range(3)]
    try:
        assert "too many connections" in refusal(server.base, token)
        Client(server.base, w.tokens["lawyer"]).close()  # another user is not affected
        open_.pop().sio.disconnect()  # a closed one frees its place
        deadline = time.monotonic() + WAIT
        while True:
            try:
                open_.append(Client(server.base, token))
                break
            except socketio.exceptions.ConnectionError:
                assert time.monotonic() < deadline, "a freed place is given again"
                time.sleep(0.2)
    finally:
        for c in open_:
            c.close()


def test_a_user_taken_off_a_provider_is_re_checked(api):
    """Acting for a provider is what shows a provider's users its referrals' cases: taking
    a user off it asks every process to re-check that user's connections (the re-check is
    the one shown live above)."""
    told: list[tuple[set[int], set[int]]] = []

    def listener(users: set[int], cases: set[int]) -> None:
        told.append((users, cases))

    with registry(api.app).access_listeners.scoped("test.listener", listener):
        admin, leaving, staying = api.user("admin"), api.user("lawyer"), api.user("lawyer")
        r = api.post("/api/providers", admin, {
            "name": "某律师事务所", "kind": "lawyer", "regions": ["510104"], "capacity": 2,
            "user_ids": [leaving.id, staying.id]})
        assert r.status_code == 201, r.get_json()
        assert told == []  # nobody lost anything
        r = api.patch(f"/api/providers/{r.get_json()['id']}", admin, {"user_ids": [staying.id]})
        assert r.status_code == 200, r.get_json()
        assert told == [({leaving.id}, set())]


# --- several processes joined by Redis -------------------------------------------------------

@pytest.fixture(scope="module")
def cluster(tmp_path_factory, private_redis) -> Iterator[World]:
    """Two web servers sharing a database and a Redis of this test run alone."""
    work = tmp_path_factory.mktemp("access-cluster")
    redis_url = private_redis.rsplit("/", 1)[0] + "/1"  # a database of its own in it
    url = make_pg_database() if DB_KIND == "postgresql" else f"sqlite:///{work / 'cluster.db'}"
    servers: list[LiveServer] = []
    try:
        app = build_app(url, work / "seed-instance", MEDIATION_REDIS_URL=redis_url)
        # No periodic re-check to lean on: only the queue can carry the change in time.
        servers = [LiveServer(work, url, MEDIATION_REDIS_URL=redis_url,
                              MEDIATION_ACCESS_RECHECK_SECONDS="3600").start() for _ in range(2)]
        yield World(servers=servers, app=app)
    finally:
        for s in servers:
            s.stop()
        if DB_KIND == "postgresql":
            drop_pg_database(url)


def test_across_processes_a_withdrawal_on_one_server_evicts_on_the_other(cluster):
    global SERVER
    one, other = cluster.servers
    SERVER = one
    w = world(cluster.app)
    lost, kept = w.case_ids
    c = subscribed(other.base, w.tokens["lawyer"], lost, kept)
    try:
        r = post(one, f"/api/referrals/{w.referrals[0]}/withdraw", w.tokens["officer"],
                 {"reason": "换一位律师"})
        assert r.status_code == 200, r.text
        assert_case_is_gone(c, one, w, lost, kept)
    finally:
        c.close()


def test_across_processes_the_command_line_disconnects_through_the_queue(cluster):
    global SERVER
    one, other = cluster.servers
    SERVER = one
    w = world(cluster.app)
    c = subscribed(other.base, w.tokens["lawyer"], w.case_ids[0])
    try:
        with cluster.app.app_context():
            name = db.session.get(User, w.lawyer.id).username
            db.session.remove()
        done = one.cli("users", "revoke-tokens", name)
        assert done.returncode == 0, done.stderr
        assert c.gone.wait(WAIT), "the other server closed the connection"
    finally:
        c.close()
