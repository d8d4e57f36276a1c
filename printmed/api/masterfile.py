"""/api/v1/master-file: the point-of-care master file's documents (product, lot, printer
profile), each version with its author, reason, difference and decision; proposing a change
(technicians and pharmacists), approving or rejecting it (a second pharmacist holding the
control-site role; approval re-asks the password as an e-signature), and the signed export and
its import at another site.

The rules are records.masterfile's; this router parses, authorises and answers (an unknown
document or version is 404: api.problems).
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from printmed.api import idempotency
from printmed.api.batches import PASSWORD_ASKED
from printmed.api.batches import _with_password as with_password  # the one password path
from printmed.api.dependencies import ReadSessionDep, SessionDep
from printmed.api.wire import Responses
from printmed.auth import current_user, require_action
from printmed.auth.dependencies import SignInClock
from printmed.auth.rules import Action, require_control_site
from printmed.records import masterfile, signatures
from printmed.store.models import MasterVersion, User

router = APIRouter(prefix="/api/v1/master-file", tags=["master file"])
Reader = Annotated[User, Depends(require_action(Action.READ_RECORD))]
Proposer = Annotated[User, Depends(require_action(Action.PROPOSE_MASTER_CHANGE))]
Decider = Annotated[User, Depends(require_action(Action.APPROVE_MASTER_CHANGE))]
Importer = Annotated[User, Depends(current_user)]
NOT_FOUND: Responses = {404: {"description": "no such document or version"}}
REFUSED: Responses = {
    **NOT_FOUND,
    403: {"description": "the role, the control-site role or four eyes does not allow it"},
    422: {"description": "a field refused, named in the problem document (nothing recorded)"},
}
PDF: Responses = {200: {"content": {"application/pdf": {}}, "description": "a PDF document"}}


class VersionView(BaseModel):
    """One version of one document, as recorded."""

    id: int
    kind: str = Field(description=f"one of {', '.join(masterfile.KINDS)}")
    key: str = Field(description="the document's id (drug, formulation id, profile id)")
    version: int
    status: str = Field(description="proposed, approved, rejected or superseded")
    content: dict[str, Any]
    content_sha256: str
    difference: list[dict[str, Any]] = Field(
        description="changed leaves from the version before: path, before, after"
    )
    source: str = Field(description="proposed, imported or first-start")
    reason: str
    proposed_by: str
    proposed_at: str
    decided_by: str | None
    decided_at: str | None
    decision_reason: str
    approval_sha256: str | None
    approval_key_id: int | None
    approval_signature: str | None


class DocumentView(BaseModel):
    """A document: the version in force (none before its first approval), the latest version
    and how many proposals await a decision."""

    kind: str
    key: str
    in_force: VersionView | None
    latest: VersionView
    pending: int


class Proposal(BaseModel):
    content: dict[str, Any] = Field(description="the whole document as it should become")
    reason: str = Field(min_length=1, max_length=2000, description="why (recorded)")


class Approval(BaseModel):
    password: str = Field(min_length=1, max_length=1024, description="the approver re-enters it")
    reason: str = Field(min_length=1, max_length=2000, description="recorded with the decision")


class Rejection(BaseModel):
    reason: str = Field(min_length=1, max_length=2000, description="recorded with the decision")


class SignedImport(BaseModel):
    document: dict[str, Any] = Field(description="the signed export, as GET /export gives it")
    reason: str = Field(min_length=1, max_length=2000, description="recorded with each proposal")
    expected_fingerprint: str | None = Field(
        None, max_length=128, description="the exporting service key's fingerprint, if known"
    )


class ImportAnswer(BaseModel):
    proposed: list[VersionView] = Field(description="new versions, each awaiting approval here")
    unchanged: list[str] = Field(description="kind/key of documents already the same here")


def version_view(row: MasterVersion) -> VersionView:
    return VersionView.model_validate(masterfile.describe(row))


def _import_answer(report: Any) -> ImportAnswer:
    return ImportAnswer(
        proposed=[version_view(row) for row in report.proposed],
        unchanged=[f"{kind}/{key}" for kind, key in report.unchanged],
    )


@router.get("/documents", response_model=list[DocumentView], summary="Every document")
def list_documents(user: Reader, session: ReadSessionDep) -> list[DocumentView]:
    """Any staff member."""
    return [
        DocumentView(
            kind=doc.kind,
            key=doc.key,
            in_force=version_view(doc.in_force) if doc.in_force is not None else None,
            latest=version_view(doc.latest),
            pending=doc.pending,
        )
        for doc in masterfile.documents(session)
    ]


@router.get(
    "/documents/{kind}/{key}",
    response_model=list[VersionView],
    responses=NOT_FOUND,
    summary="A document's history, version 1 first, each with its difference",
)
def document_history(
    kind: str, key: str, user: Reader, session: ReadSessionDep
) -> list[VersionView]:
    """Any staff member."""
    return [version_view(row) for row in masterfile.history(session, kind, key)]


@router.post(
    "/documents/{kind}/{key}/versions",
    response_model=VersionView,
    status_code=201,
    responses=REFUSED,
    summary="Propose a change (a new version awaiting approval)",
)
def propose(
    kind: str, key: str, proposal: Proposal, user: Proposer, session: SessionDep
) -> VersionView:
    """Technicians and pharmacists. A change that would make the product unsafe or unusable is
    a 422 naming the field; nothing is recorded."""
    row = masterfile.propose(session, user, kind, key, proposal.content, proposal.reason)
    return version_view(row)


@router.get("/versions", response_model=list[VersionView], summary="Versions awaiting a decision")
def pending_versions(user: Reader, session: ReadSessionDep) -> list[VersionView]:
    """Any staff member: every proposal not yet approved or rejected."""
    return [version_view(row) for row in masterfile.pending(session)]


@router.get(
    "/versions/{version_id}",
    response_model=VersionView,
    responses=NOT_FOUND,
    summary="One version",
)
def get_version(version_id: int, user: Reader, session: ReadSessionDep) -> VersionView:
    """Any staff member."""
    return version_view(masterfile.get_version(session, version_id))


@router.post(
    "/versions/{version_id}/approval",
    response_model=VersionView,
    status_code=201,
    responses={**REFUSED, **PASSWORD_ASKED},
    summary="Approve a proposal (a second pharmacist with the control-site role; password)",
)
def approve(
    request: Request, version_id: int, body: Approval, user: Decider, clock: SignInClock
) -> Response:
    """Pharmacists holding the control-site role, other than the proposal's author; the version
    in force is superseded and the approval signed with the approver's key."""
    require_control_site(user, Action.APPROVE_MASTER_CHANGE)

    def write(session: Session, signer: signatures.Signer) -> idempotency.Answer:
        row = masterfile.approve(session, version_id, signer, body.reason)
        return idempotency.json_answer(201, version_view(row).model_dump_json())

    return with_password(
        request,
        user,
        body.password,
        masterfile.APPROVAL_MEANING,
        clock,
        f"approve master version {version_id}",
        write,
    )


@router.post(
    "/versions/{version_id}/rejection",
    response_model=VersionView,
    status_code=201,
    responses=REFUSED,
    summary="Reject a proposal, with the reason",
)
def reject(version_id: int, body: Rejection, user: Decider, session: SessionDep) -> VersionView:
    """Pharmacists holding the control-site role, other than the proposal's author."""
    require_control_site(user, Action.APPROVE_MASTER_CHANGE)
    return version_view(masterfile.reject(session, version_id, user, body.reason))


@router.get(
    "/export",
    summary="The master file in force as one signed document (JSON)",
    responses={200: {"content": {"application/json": {}}, "description": "the signed export"}},
)
def export_json(user: Reader, session: ReadSessionDep) -> Response:
    """Any staff member: every approved version, signed with the service key."""
    signed = masterfile.export(session)
    return Response(
        signed.text,
        media_type="application/json",
        headers={"Content-Disposition": 'attachment; filename="master-file.json"'},
    )


@router.get("/export.pdf", response_class=Response, responses=PDF, summary="The export as PDF")
def export_pdf(user: Reader, session: ReadSessionDep) -> Response:
    """Any staff member: the signed export as a PDF a regulator or another site can read."""
    signed = masterfile.export(session)
    return Response(
        signed.pdf(),
        media_type="application/pdf",
        headers={"Content-Disposition": 'attachment; filename="master-file.pdf"'},
    )


@router.post(
    "/import",
    response_model=ImportAnswer,
    status_code=201,
    responses=REFUSED,
    summary="Import a signed export (JSON body): its documents proposed here for approval",
)
def import_signed(body: SignedImport, user: Proposer, session: SessionDep) -> ImportAnswer:
    """Technicians and pharmacists. A document whose signature or content was altered is a 422
    naming what failed; nothing is recorded."""
    text = json.dumps(body.document)
    report = masterfile.import_signed(
        session, text, user, body.reason, expected_fingerprint=body.expected_fingerprint
    )
    return _import_answer(report)


@router.post(
    "/import/file",
    response_model=ImportAnswer,
    status_code=201,
    responses=REFUSED,
    summary="Import a signed export (multipart upload of the .json file)",
)
async def import_signed_file(
    request: Request,
    user: Proposer,
    file: Annotated[UploadFile, File(description="the signed export's .json file")],
    reason: Annotated[str, Form(min_length=1, max_length=2000)],
    expected_fingerprint: Annotated[str | None, Form(max_length=128)] = None,
) -> ImportAnswer:
    """As POST /import, from the file an export was saved as."""
    text = await file.read()
    store = request.app.state.store
    with store.session() as session:
        report = masterfile.import_signed(
            session, text, user, reason, expected_fingerprint=expected_fingerprint or None
        )
        return _import_answer(report)
