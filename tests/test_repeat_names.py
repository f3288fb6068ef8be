"""The repeat check's name comparison: the batch sieve over a county's stored names keeps
every name that the pairwise rule (`_name_match`) takes, thresholds included."""

from __future__ import annotations

import itertools

import pytest

from mediation.cases.petitions import _name_match, _plausible

# Equal names, width and space variants, the interpunct, same-sound characters, a name
# exactly at the edit-distance threshold (张三 / 张三丰: 80) and at the pinyin threshold
# (张健 / 张京: "zhang jian" / "zhang jing", 90), names just under, and empty ones.
NAMES = ["王建国", "王健国", "汪建国", "王建", "王建国强", "张三", "张三丰", "章三", "张山", "张健",
         "张京", "欧阳娜娜", "欧阳纳", "李明", "李 明", "李铭", "黎明", "买买提·艾力", "买买提・艾力",
         "ＡＢＣ", "abc", "赵四", "刘洋", "柳杨", "", " "]


def test_the_sieve_keeps_every_pair_the_rule_matches_and_the_rule_decides():
    matched = 0
    for query in NAMES:
        kept = set(_plausible([query], NAMES))
        for i, stored in enumerate(NAMES):
            if _name_match(query, stored):
                matched += 1
                assert i in kept, (query, stored)
    assert matched > len(NAMES)  # the list exercises the rule, not only equal names
    assert _plausible(["王建国"], ["赵四", "王建国", "张健"]) == [1]
    assert _plausible(["张健"], ["张京"]) == [0]  # pinyin ratio exactly at its threshold
    assert _plausible(["张三"], ["张三丰"]) == [0]  # name ratio exactly at its threshold
    assert _plausible(["", " "], NAMES) == []
    assert _plausible(["王建国"], []) == []


def test_several_incoming_names_take_the_union():
    for a, b in itertools.combinations(["王建国", "张三", "欧阳娜娜"], 2):
        assert set(_plausible([a, b], NAMES)) == set(_plausible([a], NAMES)) | set(_plausible([b], NAMES))


# --- the county's names as the repeat check sees them: never stale --------------------------

def _found(officer, name: str) -> set[tuple[int, str]]:
    """(case id, petitioner's name) of the candidates for a petitioner of that name, in a
    transaction of its own."""
    from mediation.cases import petitions
    from mediation.extensions import db

    found = petitions.find_candidates(officer, {"region_code": "510104", "petitioners": [{"name": name}]})
    db.session.rollback()
    return {(c["case_id"], c["petitioner"]["name"]) for c in found}


def _other(statement, **values) -> None:
    """One statement committed on another connection than the session's."""
    from mediation.extensions import db

    with db.engine.begin() as conn:
        conn.execute(statement, values)


def test_names_written_edited_moved_and_deleted_elsewhere_are_seen_at_once(ctx):
    """On PostgreSQL through the in-process copy of the county's names, on SQLite by reading
    them: either way each look sees what the database holds at that moment."""
    from mediation.cases.models import Case, Petitioner
    from mediation.extensions import db
    from tests.factories import make_case, make_user

    officer = make_user("case_officer", "510104")
    here = make_case(officer, petitioners=[{"name": "王建国"}]).id
    away = make_case(make_user("case_officer", "510105"), region_code="510105",
                     petitioners=[{"name": "诸葛亮"}]).id
    db.session.commit()
    assert _found(officer, "王建国") == {(here, "王建国")}  # the copy is taken here
    assert _found(officer, "诸葛亮") == set()  # another county

    pets = Petitioner.__table__
    _other(pets.insert(), case_id=here, name="欧阳娜娜", groups=[], address="")
    assert _found(officer, "欧阳娜娜") == {(here, "欧阳娜娜")}
    _other(pets.update().where(pets.c.name == "欧阳娜娜").values(name="司马相如"))
    assert _found(officer, "欧阳娜娜") == set()
    assert _found(officer, "司马相如") == {(here, "司马相如")}
    _other(pets.delete().where(pets.c.name == "司马相如"))
    assert _found(officer, "司马相如") == set()
    _other(Case.__table__.update().where(Case.__table__.c.id == away).values(region_code="510104"))
    assert _found(officer, "诸葛亮") == {(away, "诸葛亮")}
    _other(Case.__table__.update().where(Case.__table__.c.id == here).values(merged_into_id=away))
    assert _found(officer, "王建国") == set()


@pytest.mark.postgres
def test_a_transactions_own_rows_serve_it_alone_and_count_once_committed(pg):
    import sqlalchemy as sa

    from mediation.cases import petitions
    from mediation.cases.models import Petitioner
    from mediation.extensions import db
    from tests.factories import make_case, make_user

    officer = make_user("case_officer", "510104")
    case_id = make_case(officer, petitioners=[{"name": "王建国"}]).id
    db.session.commit()
    assert _found(officer, "王建国") == {(case_id, "王建国")}

    def add_in_this_transaction(name: str) -> set[tuple[int, str]]:
        db.session.add(Petitioner(case_id=case_id, name=name, groups=[], address=""))
        db.session.flush()
        own = db.session.execute(sa.text("SELECT txid_current()")).scalar_one()
        _other(sa.text("SELECT txid_current()"))  # a later transaction finishes first
        found = petitions.find_candidates(officer, {"region_code": "510104",
                                                    "petitioners": [{"name": name}]})
        # this transaction's row is read again until it is seen finished
        assert pg.extensions["mediation.county_names"].rereads("510104", own)
        return {(c["case_id"], c["petitioner"]["name"]) for c in found}

    assert add_in_this_transaction("诸葛亮") == {(case_id, "诸葛亮")}
    db.session.rollback()
    assert _found(officer, "诸葛亮") == set()  # rolled back: not kept
    assert add_in_this_transaction("欧阳娜娜") == {(case_id, "欧阳娜娜")}
    db.session.commit()
    assert _found(officer, "欧阳娜娜") == {(case_id, "欧阳娜娜")}  # committed: found from now on


@pytest.mark.postgres
def test_a_snapshot_older_than_the_copy_reads_the_names_itself(pg):
    """Under repeatable read, a transaction whose snapshot predates the copy (which another
    look has moved on) sees the names as they were when it began, as a scan would."""
    import sqlalchemy as sa

    from mediation.cases import petitions
    from mediation.cases.models import Petitioner
    from mediation.extensions import db
    from tests.factories import make_case, make_user

    officer = make_user("case_officer", "510104")
    case_id = make_case(officer, petitioners=[{"name": "张三丰"}]).id
    db.session.commit()
    assert _found(officer, "张三丰") == {(case_id, "张三丰")}

    db.session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
    db.session.execute(sa.select(1))  # the snapshot is taken
    pets = Petitioner.__table__
    _other(pets.update().where(pets.c.case_id == case_id).values(name="李四"))
    with db.engine.connect() as conn:  # another look moves the copy on
        assert petitions._county_names(conn, "510104") is not None
        conn.rollback()
    assert petitions._county_names(db.session.connection(), "510104") is None  # too old
    found = petitions.find_candidates(officer, {"region_code": "510104",
                                                "petitioners": [{"name": "张三丰"}]})
    assert [(c["case_id"], c["petitioner"]["name"]) for c in found] == [(case_id, "张三丰")]
    db.session.rollback()
    assert _found(officer, "张三丰") == set()
    assert _found(officer, "李四") == {(case_id, "李四")}


@pytest.mark.postgres
def test_the_matches_read_in_the_looks_statement_are_those_read_after_it(pg, monkeypatch):
    """The look reads the matches by number and by the names the copy held before it
    (petitions.find_candidates' Beside) in its own statement; the names it adds are read
    after it when the sieve keeps them. The candidates are those of the look and the load
    apart, in one statement fewer."""
    import sqlalchemy as sa

    from mediation.cases import petitions
    from mediation.cases.models import Case, Petitioner
    from mediation.extensions import db
    from tests.factories import make_case, make_user

    officer = make_user("case_officer", "510104")
    first = make_case(officer, departments=["区住建局"], summary="拖欠工资三个月",
                      petitioners=[{"name": "王建国", "id_number": "510104198001011234",
                                    "phone": "13900000001"}, {"name": "赵四"}]).id
    second = make_case(officer, petitioners=[{"name": "王健国", "phone": "13900000002"}]).id
    merged = make_case(officer, petitioners=[{"name": "王建国"}]).id
    db.session.execute(sa.update(Case).where(Case.id == merged).values(merged_into_id=first))
    db.session.commit()
    assert _found(officer, "王建国")  # the copy is taken here

    apart = petitions._county_names
    monkeypatch.setattr(petitions, "_county_names",
                        lambda conn, county, names=None, beside=None: apart(conn, county, names))
    loads = []
    prepared = petitions._matches_prepared
    monkeypatch.setattr(petitions, "_matches_prepared", lambda d: loads.append(1) or prepared(d))

    def both(data: dict, exclude: int | None = None) -> list[dict]:
        statements: list[str] = []
        listen = lambda conn, cur, statement, *_: statements.append(statement)  # noqa: E731
        sa.event.listen(db.engine, "before_cursor_execute", listen)
        try:
            with monkeypatch.context() as m:
                m.setattr(petitions, "_county_names", apart)  # with the Beside
                combined = petitions.find_candidates(officer, data | {"region_code": "510104"}, exclude)
            db.session.rollback()
            n_combined, after = len(statements), len(loads)  # a load after the look: one more
            statements.clear()
            separate = petitions.find_candidates(officer, data | {"region_code": "510104"}, exclude)
            db.session.rollback()
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", listen)
        assert combined == separate
        assert n_combined == len(statements) - 1 + after
        return combined

    pets = Petitioner.__table__
    datas = [{"petitioners": [{"name": "王建国"}]},
             {"petitioners": [{"name": "王建国", "id_number": "510104198001011234"}],
              "departments": ["区住建局"], "summary": "拖欠工资"},
             {"petitioners": [{"name": "李四", "phone": "13900000002"}, {"name": "赵四"}]},
             {"petitioners": [{"id_number": "510104198001011234"}]}]
    for i, data in enumerate(datas):
        for exclude in (None, first):
            loads.clear()
            # written elsewhere since the last look: read by the look, not asked by it
            _other(pets.insert(), case_id=second, name="赵 四" if i % 2 else "王建国", groups=[],
                   address="")
            found = both(data, exclude)
            assert found or exclude == first
            if i == 0:  # the added 王建国, read after the look
                assert {(c["case_id"], c["petitioner"]["name"]) for c in found} == {
                    (second, "王建国")} | ({(first, "王建国")} if exclude is None else set())
                assert loads  # the load of what the look added
    assert {case for case, _ in _found(officer, "赵四")} == {first, second}


def test_the_name_scan_takes_the_latest_cases_up_to_its_limit(ctx, monkeypatch):
    """The copy of the county's names holds every case; the limit of the scan (the latest
    cases' petitioners) still applies to what it finds."""
    from mediation.cases import petitions
    from mediation.extensions import db
    from tests.factories import make_case, make_user

    officer = make_user("case_officer", "510104")
    ids = [make_case(officer, title=f"案件{i}", petitioners=[{"name": "王建国"}]).id for i in range(3)]
    db.session.commit()
    monkeypatch.setattr(petitions, "SCAN_LIMIT", 2)
    assert {case for case, _ in _found(officer, "王建国")} == set(ids[1:])
    monkeypatch.setattr(petitions, "SCAN_LIMIT", 3)
    assert {case for case, _ in _found(officer, "王建国")} == set(ids)


@pytest.mark.parametrize("lookup_cost", [0, None])
def test_the_indexed_sieve_keeps_exactly_what_the_full_scan_keeps(lookup_cost, monkeypatch):
    """The county copy's sieve (exact keys, and only the lengths and bags that may reach a
    threshold: name_cache.KeyIndex) against the full scan (_sieve) on random names: short
    ones of few characters (many equal and near names, same sounds), latin, spaces, full
    width, and names renamed in the copy. With a lookup cost of 0 every length that may be
    is compared by its bags (at the default, small indexes compare most lengths whole)."""
    import random

    from mediation.cases import name_cache

    if lookup_cost is not None:
        monkeypatch.setattr(name_cache, "BAG_LOOKUP_COST", lookup_cost)

    from mediation.cases.name_cache import Names, may_reach
    from mediation.cases.petitions import _indexed_sieve, _name_keys, _sieve

    rng = random.Random(20261130)
    kept = similar = 0
    alphabet = "王汪张章李黎刘柳欧阳建健国三丰山明铭娜纳京买提·艾力 ＡａBb" + "赵钱孙周吴郑冯陈"

    def random_name() -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.choice([0, 1, 2, 2, 3, 3, 3, 4, 5, 6, 8])))

    def near(name: str) -> str:
        """The name with a character or two inserted, deleted or replaced."""
        chars = list(name)
        for _ in range(rng.choice([1, 1, 2])):
            at = rng.randint(0, len(chars))
            op = rng.choice("idr") if chars else "i"
            if op == "i":
                chars.insert(at, rng.choice(alphabet))
            elif op == "d":
                del chars[min(at, len(chars) - 1)]
            else:
                chars[min(at, len(chars) - 1)] = rng.choice(alphabet)
        return "".join(chars)

    for _ in range(100):
        index, current = Names(), {}
        for pid in range(rng.randint(0, 300)):
            current[pid] = random_name()
            index.put(pid, current[pid], rng.randint(1, 50), _name_keys)
        for pid in rng.sample(sorted(current), len(current) // 5):  # renamed, some to the same
            current[pid] = random_name() if rng.random() < 0.8 else current[pid]
            index.put(pid, current[pid], rng.randint(1, 50), _name_keys)
        assert index.case_ids == sorted(k[2] for k in index.keys.values())
        ids = sorted(current)
        stored = [current[pid] for pid in ids]
        normalised = [_name_keys(n)[0] for n in stored]
        pinyin = [_name_keys(n)[1] for n in stored]
        for _ in range(30):
            query = [near(current[rng.choice(ids)]) if ids and rng.random() < 0.7 else random_name()
                     for _ in range(rng.choice([1, 1, 2]))]
            full = {ids[i] for i in _sieve(query, normalised, lambda p=pinyin: p)}
            assert _indexed_sieve(query)(index) == full, query
            kept += len(full)
            similar += sum(_name_keys(current[pid]) not in map(_name_keys, query) for pid in full)
    assert kept > 1500 and similar > 1000, (kept, similar)  # near names (not equal keys) too
    # the bound: an equal-length pair differs by two operations at least
    assert not may_reach(3, 3, 79.5) and may_reach(5, 5, 79.5) and may_reach(2, 3, 79.5)
    assert not may_reach(2, 1, 79.5) and not may_reach(0, 0, 79.5) and not may_reach(3, 0, 1)


@pytest.mark.postgres
def test_the_copys_floor_spares_the_cut_off_query_and_never_replaces_it(pg, monkeypatch, request):
    """Past the scan limit, a case at or above the copy's floor (the limit-th of its rows
    by case id) is within the scan without the cut-off query; below it, the query decides:
    the copy also holds rows the scan does not count (here cases merged away)."""
    import sqlalchemy as sa

    from mediation.cases import petitions
    from mediation.cases.models import Case
    from mediation.extensions import db
    from tests.factories import make_case, make_user

    officer = make_user("case_officer", "510104")
    ids = [make_case(officer, title=f"案件{i}", petitioners=[{"name": "王建国"}]).id for i in range(3)]
    db.session.commit()
    statements: list[str] = []
    listen = lambda conn, cur, statement, *_: statements.append(statement)  # noqa: E731
    sa.event.listen(db.engine, "before_cursor_execute", listen)
    # removed at the end: a listener left on the engine sends later tests' statements
    # through SQLAlchemy's path instead of the driver's cursor (mediation.driver)
    request.addfinalizer(lambda: sa.event.remove(db.engine, "before_cursor_execute", listen))
    monkeypatch.setattr(petitions, "SCAN_LIMIT", 3)
    assert {case for case, _ in _found(officer, "王建国")} == set(ids)
    assert not [s for s in statements if "OFFSET" in s]  # all at or above the floor

    merged = [make_case(officer, title=f"并案{i}", petitioners=[{"name": "王建国"}]).id
              for i in range(2)]
    db.session.execute(sa.update(Case).where(Case.id.in_(merged)).values(merged_into_id=ids[0]))
    db.session.commit()
    statements.clear()
    assert {case for case, _ in _found(officer, "王建国")} == set(ids)  # the query took them
    assert len([s for s in statements if "OFFSET" in s]) == 1  # once, for the two below
    monkeypatch.setattr(petitions, "SCAN_LIMIT", 2)
    assert {case for case, _ in _found(officer, "王建国")} == set(ids[1:])


def test_the_pinyin_is_pypinyins_lazy_pinyin():
    """name_pinyin's converter remembers each word's conversion (petitions._lazy_pinyin):
    the same as pypinyin.lazy_pinyin with its defaults, for phrases of polyphonic characters
    (segmented as words), compound surnames, latin, digits, width variants and spaces."""
    import random

    from pypinyin import lazy_pinyin

    from mediation.cases.petitions import _lazy_pinyin

    rng = random.Random(7)
    alphabet = ([chr(c) for c in range(0x4E00, 0x4E00 + 400)]
                + list("长行重乐单解朝曾查区仇朴盖尉迟孙于 ab·・Ｚ1２,"))
    words = ["重庆", "银行", "长大", "单于", "尉迟", "长孙", "朝阳", "音乐", "曾经", "重要"]
    for _ in range(5000):
        text = "".join(rng.choice(words) if rng.random() < 0.3 else rng.choice(alphabet)
                       for _ in range(rng.randint(0, 7)))
        assert _lazy_pinyin(text) == lazy_pinyin(text), text
        assert _lazy_pinyin(text) == lazy_pinyin(text), text  # remembered now
    assert _lazy_pinyin("重庆银行") == ["chong", "qing", "yin", "hang"]


def test_the_bags_near_a_key_hold_every_key_within_reach():
    """name_cache.max_distance is the largest distance `may_reach`'s test lets through, and
    bag_offsets(change, d) leads from a key's bag to the bag of every key of that change in
    length within Indel distance d (rapidfuzz's), on random pairs of near strings."""
    import random

    from rapidfuzz.distance import Indel

    from mediation.cases.name_cache import bag, bag_offsets, max_distance

    for cutoff in (79.5, 89.5, 50, 99.9):
        for n in range(0, 30):
            for m in range(0, 30):
                if n + m == 0:
                    continue
                d = max_distance(n, m, cutoff)
                assert d < 0 or 100 * (n + m - d) / (n + m) >= cutoff - 1e-6
                assert not 100 * (n + m - d - 1) / (n + m) >= cutoff - 1e-6
    rng = random.Random(3)
    alphabet = "abcdefghijklmnopqrstuvwxyz 王张李·"
    checked = 0
    for _ in range(3000):
        a = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 16)))
        b = list(a)
        for _ in range(rng.randint(0, 3)):
            at = rng.randint(0, len(b))
            if b and rng.random() < 0.5:
                del b[min(at, len(b) - 1)]
            else:
                b.insert(at, rng.choice(alphabet))
        b = "".join(b)
        d = Indel.distance(a, b)
        for slack in (0, 1):
            offsets = bag_offsets(len(b) - len(a), d + slack)
            if offsets is not None:
                assert bag(b) - bag(a) in offsets, (a, b)
                checked += 1
    assert checked > 5000


@pytest.mark.postgres
@pytest.mark.parametrize("plan", ["force_custom_plan", "force_generic_plan"])
def test_a_later_look_reads_the_new_rows_and_their_cases_by_index(pg, plan):
    """At each intake the copy's look reads the few petitioners written since the last one,
    and their cases, by their indexes: never every petitioner or case of the database. So
    whether the server plans the prepared statement with the parameters' values (custom)
    or keeps one plan made without them (generic), and here with no statistics at all (a
    fresh database; this machine's PostgreSQL runs without autovacuum). With
    `change_xid >= :after` alone the generic plan guesses a third of the table and reads
    all of it; with a join to the cases the planner hashes every case."""
    import sqlalchemy as sa

    from mediation.cases.models import Case, Petitioner
    from mediation.extensions import db
    from tests.factories import make_case, make_user

    officer = make_user("case_officer", "510104")
    first = make_case(officer, petitioners=[{"name": "王建国"}]).id
    db.session.commit()
    # Thousands of cases of the county, each with a petitioner (copies of the first).
    cases, pets = Case.__table__, Petitioner.__table__
    case_cols = [c.name for c in cases.columns if c.name not in ("id", "reference")]
    pet_cols = [c.name for c in pets.columns if c.name not in ("id", "case_id", "name", "change_xid")]
    _other(sa.text(f"INSERT INTO cases (reference, {', '.join(case_cols)}) "
                   f"SELECT reference || '-' || g, {', '.join(case_cols)} "
                   "FROM cases, generate_series(1, 20000) g WHERE id = :id"), id=first)
    _other(sa.text(f"INSERT INTO petitioners (case_id, name, {', '.join(pet_cols)}) "
                   f"SELECT c.id, '路人' || c.id, {', '.join('p.' + c for c in pet_cols)} "
                   "FROM cases c, petitioners p WHERE p.case_id = :id AND c.id <> :id"), id=first)
    _found(officer, "王建国")  # the copy is taken (the first case is past the scan's limit)
    newest = make_case(officer, petitioners=[{"name": "诸葛亮"}]).id
    db.session.commit()

    from mediation.cases import petitions
    from tests.plans import forced_plan

    with forced_plan(plan, ("petitioners", "cases")) as reads:
        found = petitions.find_candidates(officer, {"region_code": "510104",
                                                    "petitioners": [{"name": "诸葛亮"}]})
    assert [(c["case_id"], c["petitioner"]["name"]) for c in found] == [(newest, "诸葛亮")]
    assert (reads["petitioners"][0], reads["cases"][0]) == (0, 0), reads  # sequential scans
