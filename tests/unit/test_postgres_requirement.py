"""The PostgreSQL tests skip where the database does not answer, and fail instead where the
environment requires it (as CI does): a database that is down never passes for a green run."""

from __future__ import annotations

import pytest

from tests.helpers.postgres import REQUIRED, require_postgres

# Port 1 on loopback: nothing listens there, so the connection is refused at once.
NOWHERE = "postgresql://postgres@127.0.0.1:1/test"


def test_an_unreachable_database_skips_the_test_and_says_why() -> None:
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL not reachable at"):
        require_postgres(NOWHERE, environ={})


@pytest.mark.parametrize("unset", ["", "0"])
def test_a_requirement_switched_off_still_skips(unset: str) -> None:
    with pytest.raises(pytest.skip.Exception):
        require_postgres(NOWHERE, environ={REQUIRED: unset})


def test_an_unreachable_database_fails_the_test_where_it_is_required() -> None:
    with pytest.raises(pytest.fail.Exception, match=f"{REQUIRED} is set, so this needs PostgreSQL"):
        require_postgres(NOWHERE, environ={REQUIRED: "1"})
