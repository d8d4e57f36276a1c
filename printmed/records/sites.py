"""Sites: every user, printer and batch belongs to one; staff see their own site's batches, and
staff holding the control-site role see every site's, with the overview the control site reads.

Several sites share one PostgreSQL database (each site's service points DATABASE_URL at it and
names its own site in PRINTMED_SITE); an SQLite store is one site's own file, so it holds one.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from printmed import audit
from printmed.auth.principal import Principal
from printmed.auth.rules import Action, NotPermitted, require, require_control_site
from printmed.auth.users import get_user
from printmed.errors import InputError
from printmed.jobs import register
from printmed.jobs.service import UnknownBatch, column_value, get_batch, list_batches
from printmed.records.deviations import DEVIATION_ACTION
from printmed.settings import site_code
from printmed.store.models import ApiClient, AuditEntry, Batch, Site, User

MAIN_SITE_ID = 1


class OneSiteOnSqlite(InputError):
    """A second site asked of an SQLite store: several sites share one PostgreSQL database."""

    def __init__(self, code: str) -> None:
        super().__init__(
            "code",
            code,
            "cannot be added: an SQLite store holds one site; several sites share one "
            "PostgreSQL database (README, Sites)",
        )


def site_scope(user: User) -> int | None:
    """The one site whose batches `user` sees, or None for every site (the control-site role)."""
    return None if user.control_site else (user.site_id or MAIN_SITE_ID)


def scope_of(session: Session, who: Principal) -> int | None:
    """`site_scope` of a caller: a staff member's, or a prescribing system's own site."""
    if who.kind == "user" and who.user_id is not None:
        user = session.get(User, who.user_id)
        return MAIN_SITE_ID if user is None else site_scope(user)
    registered = session.scalar(select(ApiClient).where(ApiClient.client_id == who.name))
    return registered.site_id if registered is not None else MAIN_SITE_ID


def visible_batch(
    session: Session, batch_number: str, scope: int | None, *, for_update: bool = False
) -> Batch:
    """The batch if the scope sees it; a batch of another site is UnknownBatch (a 404, never a
    403: its existence is not told)."""
    return get_batch(session, batch_number, for_update=for_update, site_id=scope)


def check_visible(session: Session, batch_number: str, scope: int | None) -> None:
    """Refuse (UnknownBatch) a batch that exists at a site outside `scope`; a number that is
    no batch at all is left to the caller, which names it the same way."""
    if scope is None:
        return
    site = session.scalar(select(Batch.site_id).where(Batch.batch_number == batch_number))
    if site is not None and site != scope:
        raise UnknownBatch(batch_number)


def printer_visible(session: Session, name: str, scope: int | None) -> bool:
    """Whether a printer of that name is one the scope sees (a name not in the register, e.g. a
    profile-named printer before the register holds any, is everyone's)."""
    printer = register.find(session, name)
    return scope is None or printer is None or printer.site_id == scope


def site_for_printer(session: Session, by: User, code: str | None) -> int:
    """The site a printer `by` registers is at: theirs, or (an admin's choice) the site `code`."""
    if code is None or not code.strip():
        return by.site_id or MAIN_SITE_ID
    site = get_site(session, code.strip())
    if site.id != by.site_id:
        require(by, Action.MANAGE_SITES)
    return site.id


def visible_batches(session: Session, scope: int | None, state: str | None = None) -> list[Batch]:
    return list_batches(session, state, site_id=scope)


def list_sites(session: Session) -> list[Site]:
    return list(session.scalars(select(Site).order_by(Site.id)))


def get_site(session: Session, code: str) -> Site:
    site = session.scalar(select(Site).where(Site.code == code))
    if site is None:
        raise InputError("site", code, "is not a site")
    return site


def service_site(session: Session, code: str) -> Site:
    """The site a service runs for (settings.site_code, PRINTMED_SITE); refused when unknown."""
    site = session.scalar(select(Site).where(Site.code == code))
    if site is None:
        raise InputError("PRINTMED_SITE", code, "is not a site in this database")
    return site


def site_of(session: Session, site_id: int) -> Site:
    site = session.get(Site, site_id)
    assert site is not None, site_id  # sites are never deleted; the foreign keys hold
    return site


def _public(site: Site) -> dict[str, Any]:
    return {"code": site.code, "name": site.name, "control": site.control}


def create_site(session: Session, by: User, *, code: str, name: str) -> Site:
    """A new site (never a control site: the control site is the one the store began with).
    Refused on SQLite, which holds one site."""
    require(by, Action.MANAGE_SITES)
    code = site_code(code)
    if not name.strip() or len(name.strip()) > 120:
        raise InputError("name", name, "is empty or longer than 120 characters")
    if session.get_bind().dialect.name == "sqlite":
        raise OneSiteOnSqlite(code)
    audit.lock_chain(session)
    if session.scalar(select(Site.id).where(Site.code == code)) is not None:
        raise InputError("code", code, "is a site already")
    site = Site(
        code=code,
        name=name.strip(),
        control=False,
        created_by=by.username,
        created_at=audit.utc_now(),
    )
    session.add(site)
    session.flush()
    audit.append(
        session,
        actor=by.username,
        action="site.create",
        entity="site",
        entity_id=code,
        new=_public(site),
        reason="site created",
    )
    return site


class SiteMember(Protocol):
    """A row that belongs to a site: a user, a registered printer, a prescribing system."""

    site_id: int


def _move(
    session: Session, by: User, row: SiteMember, site: Site, entity: str, name: str, reason: str
) -> None:
    """Set `row`'s site, with the entry `<entity>.site` naming the sites it left and joined."""
    audit.set_audited(
        session,
        row,
        "site_id",
        site.id,
        actor=by.username,
        action=f"{entity}.site",
        entity=entity,
        entity_id=name,
        reason=reason,
        shown=(site_of(session, row.site_id).code, site.code),
    )


def assign_user(session: Session, by: User, username: str, code: str, reason: str) -> User:
    """Move a staff member to the site `code` (audited). A holder of the control-site role must
    stay at a control site: revoke the role first."""
    require(by, Action.MANAGE_SITES)
    user, site = get_user(session, username), get_site(session, code)
    if user.control_site and not site.control:
        raise InputError(
            "site", code, f"is not a control site; revoke {username}'s control-site role first"
        )
    _move(session, by, user, site, "user", username, reason)
    return user


def assign_printer(session: Session, by: User, name: str, code: str, reason: str) -> None:
    """Move a registered printer to the site `code` (audited). Refused while its line is cleared
    for a batch: that batch is of the site the printer leaves."""
    require(by, Action.MANAGE_SITES)
    printer, site = register.get(session, name, for_update=True), get_site(session, code)
    if printer.cleared_batch:
        raise InputError(
            "printer", name, f"has its line cleared for {printer.cleared_batch}; print it first"
        )
    _move(session, by, printer, site, "printer", name, reason)


def assign_client(session: Session, by: User, client_id: str, code: str, reason: str) -> None:
    """Move a prescribing system to the site `code`: its later orders are made there."""
    require(by, Action.MANAGE_SITES)
    registered = session.scalar(select(ApiClient).where(ApiClient.client_id == client_id))
    if registered is None:
        raise InputError("client", client_id, "is not a registered prescribing system")
    _move(session, by, registered, get_site(session, code), "client", client_id, reason)


def set_control_role(session: Session, by: User, username: str, held: bool, reason: str) -> User:
    """Grant or revoke the control-site role (audited): held only by staff of a control site,
    and never by an admin, who signs nothing."""
    require(by, Action.MANAGE_SITES)
    user = get_user(session, username)
    if held:
        site = site_of(session, user.site_id)
        if not site.control:
            raise InputError("user", username, f"is at {site.code}, which is not a control site")
        if user.role == "admin":
            raise NotPermitted(username, "hold the control-site role", "an admin signs nothing")
    if user.control_site == held:
        raise InputError(
            "control_site", held, f"is {username}'s already ({'held' if held else 'not held'})"
        )
    audit.set_audited(
        session,
        user,
        "control_site",
        held,
        actor=by.username,
        action="user.control_site",
        entity="user",
        entity_id=username,
        reason=reason,
    )
    return user


@dataclass
class SiteSummary:
    """One site's line of the overview: its batches counted by state."""

    code: str
    name: str
    control: bool
    staff: int
    printers: int
    batches_by_state: dict[str, int] = field(default_factory=dict)


@dataclass
class Overview:
    """What the control site reads at once: every site's batches by state, the batches whose QC
    failed, the deviations recorded, and the master-file changes awaiting a decision."""

    sites: list[SiteSummary]
    qc_failures: list[dict[str, Any]]
    deviations: list[dict[str, Any]]
    pending_changes: list[dict[str, Any]]


def overview(session: Session, viewer: User, pending_changes: list[dict[str, Any]]) -> Overview:
    """The control-site overview; only for staff holding the control-site role. The pending
    master-file changes are the master file's own list (records.masterfile), passed in."""
    require_control_site(viewer, Action.VIEW_ALL_SITES)
    codes = {site.id: site.code for site in list_sites(session)}
    counts: Counter[tuple[int, str]] = Counter(
        (row.site_id, row.state) for row in session.execute(select(Batch.site_id, Batch.state))
    )
    staff = {
        site_id: int(n)
        for site_id, n in session.execute(select(User.site_id, func.count()).group_by(User.site_id))
    }
    printers = Counter(printer.site_id for printer in register.all_printers(session))
    summaries = [
        SiteSummary(
            code=site.code,
            name=site.name,
            control=site.control,
            staff=staff.get(site.id, 0),
            printers=printers.get(site.id, 0),
            batches_by_state={
                state: n for (site_id, state), n in sorted(counts.items()) if site_id == site.id
            },
        )
        for site in list_sites(session)
    ]
    return Overview(
        sites=summaries,
        qc_failures=_qc_failures(session, codes),
        deviations=_deviations(session, codes),
        pending_changes=pending_changes,
    )


def _qc_failures(session: Session, codes: dict[int, str]) -> list[dict[str, Any]]:
    weighed = session.scalars(select(Batch).where(Batch.qc_json.is_not(None)).order_by(Batch.id))
    failed = []
    for job in weighed:
        qc = column_value(job, "qc_json") or {}
        if qc.get("passed") is False:
            failed.append(
                {
                    "site": codes.get(job.site_id, str(job.site_id)),
                    "batch_number": job.batch_number,
                    "state": job.state,
                    "created_at": job.created_at,
                }
            )
    return failed


def _deviations(session: Session, codes: dict[int, str]) -> list[dict[str, Any]]:
    rows = session.execute(
        select(AuditEntry, Batch.site_id)
        .join(Batch, Batch.batch_number == AuditEntry.batch_number)
        .where(AuditEntry.action == DEVIATION_ACTION)
        .order_by(AuditEntry.seq)
    ).all()
    return [
        {
            "site": codes.get(site_id, str(site_id)),
            "batch_number": entry.batch_number,
            "at": entry.at,
            "actor": entry.actor,
            "description": audit.decoded(entry)["new"]["description"],
            "reason": entry.reason,
        }
        for entry, site_id in rows
    ]
