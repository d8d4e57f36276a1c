"""Who sees which batch, as an invariant: a staff member sees exactly the batches of their own
site, one holding the control-site role every batch; a batch unseen is "no such batch"."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from printmed.jobs import service
from printmed.jobs.service import UnknownBatch
from printmed.records import sites
from printmed.store import Store, open_store
from printmed.store.models import Site, User

SITE_IDS = (1, 2)


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """A store with a second site written in directly (records.sites refuses one on SQLite;
    the rule under test reads only the ids)."""
    folder = tmp_path_factory.mktemp("visibility")
    opened = open_store(f"sqlite:///{Path(folder) / 'printmed.sqlite'}")
    with opened.session() as session:
        session.add(
            Site(
                id=2,
                code="ward-b",
                name="Ward B",
                control=False,
                created_by="test",
                created_at="2026-11-29T00:00:00+00:00",
            )
        )
    yield opened
    opened.dispose()


def staff(site_id: int, control: bool = False) -> User:
    return User(
        username=f"tech-{site_id}",
        full_name="T",
        role="technician",
        active=True,
        site_id=site_id,
        control_site=control,
    )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    made_at=st.lists(st.sampled_from(SITE_IDS), min_size=1, max_size=4),
    viewer_site=st.sampled_from(SITE_IDS),
    control=st.booleans(),
)
def test_staff_see_their_own_sites_batches_and_the_control_site_all(
    store: Store, made_at: list[int], viewer_site: int, control: bool
) -> None:
    with store.session() as session:
        for site_id in made_at:
            service.create_batch(
                session,
                staff(site_id),
                prescription={"id": "RX"},
                formulation={"lot": "L"},
                printer="p",
                profile_id="x",
            )
    viewer = staff(viewer_site, control)
    scope = sites.site_scope(viewer)
    with store.read_session() as session:
        every = service.list_batches(session)
        seen = {b.batch_number for b in sites.visible_batches(session, scope)}
        assert seen == {b.batch_number for b in every if control or b.site_id == viewer_site}
        for batch in every:
            if batch.batch_number in seen:
                sites.check_visible(session, batch.batch_number, scope)
                assert sites.visible_batch(session, batch.batch_number, scope) is not None
            else:
                with pytest.raises(UnknownBatch):
                    sites.check_visible(session, batch.batch_number, scope)
                with pytest.raises(UnknownBatch):
                    sites.visible_batch(session, batch.batch_number, scope)
