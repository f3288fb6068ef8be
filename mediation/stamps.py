"""The rows a table's in-process copy has not read yet, by their transaction stamps.

PostgreSQL only. A trigger stamps each row of `petitioners` and `providers` with the id of
the transaction that last wrote it (`change_xid`, migrations 0031 and 0032); the copies
(the repeat check's county names, `mediation.cases.name_cache`, and the routing directory,
`referrals.directory_cache`) each read, at every look, the rows stamped by a transaction
their previous look did not see finished: from its snapshot's xmax on, or one it saw
running.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY


def stamped_since(column: Any) -> sa.ColumnElement[bool]:
    """The rows stamped from `:after` on or with a stamp in `:pending` (both parameters).

    The range is bounded above by this statement's snapshot's xmax, which no row it sees
    can reach, so that a plan made without statistics (a fresh database; autovacuum off)
    or without the parameters' values (the generic plan the server may keep for a prepared
    statement) takes the stamps' index: with `>= :after` alone it guesses a third of the
    table and reads all of it at each look (tests/plans.py)."""
    return sa.or_(
        column.between(sa.bindparam("after", type_=sa.BigInteger),
                       sa.func.txid_snapshot_xmax(sa.func.txid_current_snapshot())),
        column == sa.any_(sa.bindparam("pending", type_=ARRAY(sa.BigInteger))))
