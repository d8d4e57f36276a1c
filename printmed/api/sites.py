"""/api/v1/sites: the sites that make batches (each user, printer and batch belongs to one), who
belongs where and who holds the control-site role (admins), and the control-site overview.

The rules are records.sites'; every change is an audit entry with its reason. On SQLite a second
site is refused (422 naming `code`): several sites share one PostgreSQL database.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from printmed.api.dependencies import ReadSessionDep, SessionDep
from printmed.api.wire import Responses
from printmed.auth import current_user, require_action
from printmed.auth.rules import Action, require_control_site
from printmed.records import masterfile, sites
from printmed.store.models import User

router = APIRouter(prefix="/api/v1", tags=["sites"])
Admin = Annotated[User, Depends(require_action(Action.MANAGE_SITES))]
Staff = Annotated[User, Depends(current_user)]
REFUSED: Responses = {
    403: {"description": "not an admin (or, for the overview, no control-site role)"},
    422: {"description": "a field refused, named in the problem document"},
}


class SiteView(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    code: str = Field(description="short name, e.g. main, ward-b")
    name: str
    control: bool = Field(description="the control site, which holds the master file")
    created_by: str
    created_at: str


class NewSite(BaseModel):
    code: str = Field(min_length=1, max_length=64, description="1-32 of a-z, 0-9, '-'")
    name: str = Field(min_length=1, max_length=200)


class Assignment(BaseModel):
    site: str = Field(min_length=1, max_length=64, description="the site's code")
    reason: str = Field(min_length=1, max_length=2000, description="recorded in the trail")


class ControlRole(BaseModel):
    held: bool = Field(description="grant (true) or revoke (false) the control-site role")
    reason: str = Field(min_length=1, max_length=2000, description="recorded in the trail")


class StaffSiteView(BaseModel):
    username: str
    role: str
    site: str
    control_site: bool


class SiteSummaryView(BaseModel):
    code: str
    name: str
    control: bool
    staff: int
    printers: int
    batches_by_state: dict[str, int] = Field(description="state → number of batches")


class QcFailureView(BaseModel):
    site: str
    batch_number: str
    state: str
    created_at: str


class DeviationView(BaseModel):
    site: str
    batch_number: str
    at: str
    actor: str
    description: str
    reason: str


class PendingChangeView(BaseModel):
    id: int
    kind: str
    key: str
    version: int
    reason: str
    proposed_by: str
    proposed_at: str


class OverviewView(BaseModel):
    """Every site's batches by state, the batches whose QC failed, the deviations recorded and
    the master-file changes awaiting a decision: what the control site oversees."""

    sites: list[SiteSummaryView]
    qc_failures: list[QcFailureView]
    deviations: list[DeviationView]
    pending_changes: list[PendingChangeView]


def _staff_view(session: Any, user: User) -> StaffSiteView:
    return StaffSiteView(
        username=user.username,
        role=user.role,
        site=sites.site_of(session, user.site_id).code,
        control_site=user.control_site,
    )


def pending_changes(session: Any) -> list[dict[str, Any]]:
    """The master file's proposals awaiting a decision, as the overview lists them."""
    return [
        {
            "id": row.id,
            "kind": row.kind,
            "key": row.key,
            "version": row.version,
            "reason": row.reason,
            "proposed_by": row.proposed_by,
            "proposed_at": row.proposed_at,
        }
        for row in masterfile.pending(session)
    ]


@router.get("/sites", response_model=list[SiteView], summary="Every site")
def list_sites(user: Staff, session: ReadSessionDep) -> list[SiteView]:
    """Any staff member."""
    return [SiteView.model_validate(site) for site in sites.list_sites(session)]


@router.post(
    "/sites", response_model=SiteView, status_code=201, responses=REFUSED, summary="Add a site"
)
def create_site(new: NewSite, admin: Admin, session: SessionDep) -> SiteView:
    """Admins. Refused on SQLite (one site): several sites share one PostgreSQL database."""
    return SiteView.model_validate(sites.create_site(session, admin, code=new.code, name=new.name))


@router.get(
    "/sites/overview",
    response_model=OverviewView,
    responses=REFUSED,
    summary="The control-site overview: every site's batches, QC failures, deviations, changes",
)
def get_overview(user: Staff, session: ReadSessionDep) -> OverviewView:
    """Staff holding the control-site role."""
    require_control_site(user, Action.VIEW_ALL_SITES)
    found = sites.overview(session, user, pending_changes(session))
    return OverviewView.model_validate(
        {
            "sites": [vars(s) for s in found.sites],
            "qc_failures": found.qc_failures,
            "deviations": found.deviations,
            "pending_changes": found.pending_changes,
        }
    )


@router.put(
    "/users/{username}/site",
    response_model=StaffSiteView,
    responses=REFUSED,
    summary="Move a staff member to a site",
)
def assign_user(
    username: str, assignment: Assignment, admin: Admin, session: SessionDep
) -> StaffSiteView:
    """Admins."""
    user = sites.assign_user(session, admin, username, assignment.site, assignment.reason)
    return _staff_view(session, user)


@router.put(
    "/users/{username}/control-site",
    response_model=StaffSiteView,
    responses=REFUSED,
    summary="Grant or revoke the control-site role",
)
def set_control_role(
    username: str, change: ControlRole, admin: Admin, session: SessionDep
) -> StaffSiteView:
    """Admins; only staff of a control site hold it, never an admin."""
    user = sites.set_control_role(session, admin, username, change.held, change.reason)
    return _staff_view(session, user)


@router.put(
    "/printers/{name}/site",
    response_model=SiteView,
    responses=REFUSED,
    summary="Move a registered printer to a site",
)
def assign_printer(
    name: str, assignment: Assignment, admin: Admin, session: SessionDep
) -> SiteView:
    """Admins; refused while the printer's line is cleared for a batch."""
    sites.assign_printer(session, admin, name, assignment.site, assignment.reason)
    return SiteView.model_validate(sites.get_site(session, assignment.site))


@router.put(
    "/clients/{client_id}/site",
    response_model=SiteView,
    responses=REFUSED,
    summary="Move a prescribing system to a site (its orders are made there)",
)
def assign_client(
    client_id: str, assignment: Assignment, admin: Admin, session: SessionDep
) -> SiteView:
    """Admins."""
    sites.assign_client(session, admin, client_id, assignment.site, assignment.reason)
    return SiteView.model_validate(sites.get_site(session, assignment.site))
