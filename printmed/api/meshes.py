"""/api/v1/meshes: the bundled tablet shapes, and a pharmacy's own shape uploaded as STL or 3MF.

An upload is checked as the slicer checks a mesh and as a tablet must be (watertight or safely
repaired), kept under the data folder by its SHA-256, and named in a prescription as
`"shape": "mesh", "mesh": {"sha256": …}`; a bundled one as `"mesh": {"name": "star"}`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict

from printmed import catalog
from printmed.api.wire import Responses
from printmed.auth import SCOPE_ORDER_READ, SCOPE_ORDER_WRITE, require_scope
from printmed.auth.dependencies import settings_of
from printmed.auth.principal import Principal

router = APIRouter(prefix="/api/v1/meshes", tags=["meshes"])
PROBLEMS: Responses = {
    401: {"description": "no valid credentials"},
    403: {"description": "the caller lacks the scope or role"},
    422: {"description": "the mesh is refused (field and value named)"},
}
# the upload's own limit sits below the request limit, so an oversize file is refused naming
# the field rather than cut off by the request limit
ENVELOPE_BYTES = 64 * 1024


class MeshView(BaseModel):
    """A tablet shape given as a mesh: how a prescription names it and its size range."""

    model_config = ConfigDict(frozen=True)

    name: str
    sha256: str
    size_range_mm: tuple[float, float]
    label: str | None = None


@router.get(
    "",
    response_model=list[MeshView],
    responses=PROBLEMS,
    summary="The bundled tablet shapes (name them as mesh.name)",
)
def bundled(
    who: Annotated[Principal, Depends(require_scope(SCOPE_ORDER_READ))],
) -> list[MeshView]:
    views = []
    for name, shape in catalog.bundled_shapes().items():
        mesh = catalog.mesh_shape(name=name)
        views.append(
            MeshView(
                name=name, sha256=mesh.sha256, size_range_mm=shape.size_range_mm, label=shape.label
            )
        )
    return views


@router.post(
    "",
    status_code=201,
    response_model=MeshView,
    responses=PROBLEMS,
    summary="Upload a tablet shape (STL or 3MF); answered with its SHA-256 (as mesh.sha256)",
)
async def upload(
    request: Request,
    file: Annotated[UploadFile, File(description="an .stl or .3mf file")],
    who: Annotated[Principal, Depends(require_scope(SCOPE_ORDER_WRITE))],
) -> MeshView:
    """Clients with prescriptions.write; technicians and pharmacists."""
    data = await file.read()
    limit = settings_of(request).max_request_bytes - ENVELOPE_BYTES
    shape = await run_in_threadpool(
        catalog.store_uploaded_mesh, data, file.filename or "(unnamed)", limit
    )
    return MeshView(name=shape.name, sha256=shape.sha256, size_range_mm=shape.size_range_mm)
