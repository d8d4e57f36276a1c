"""A batch as the pages show it: the job's recorded columns decoded, with the few figures derived
for display (worst gate deviation, tablet size text, which layers to picture, the next step).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from printmed.jobs.service import get_batch, snapshot
from printmed.jobs.states import BatchState

# what a page offers next, by state: (path under /batches/<b>/, label)
NEXT_STEP = {
    BatchState.DRAFT: ("review", "Review"),
    BatchState.VERIFIED: ("review", "Review and queue"),
    BatchState.QUEUED: ("printers", "Watch the printer"),
    BatchState.PRINTING: ("printers", "Watch the printer"),
    BatchState.PRINTED: ("weigh", "Weigh the units"),
    BatchState.WEIGHED: ("release", "Review for release"),
    BatchState.RELEASED: ("release", "Batch record"),
    BatchState.REJECTED: ("release", "Batch record"),
    BatchState.FAILED: ("release", "Batch record"),
    BatchState.INTERRUPTED: ("release", "Batch record"),
}


@dataclass(frozen=True)
class BatchView:
    batch_number: str
    fields: dict[str, Any]

    def __getattr__(self, name: str) -> Any:
        fields = self.__dict__.get("fields", {})
        if name in fields:
            return fields[name]
        raise AttributeError(name)

    @property
    def rx(self) -> dict[str, Any]:
        return self.fields["prescription_json"] or {}

    @property
    def lot(self) -> dict[str, Any]:
        return self.fields["formulation_json"] or {}

    @property
    def dose(self) -> dict[str, Any]:
        return self.fields["dose_json"] or {}

    @property
    def design(self) -> dict[str, Any]:
        return self.fields["design_json"] or {}

    @property
    def gate(self) -> dict[str, Any]:
        return self.fields["gate_json"] or {}

    @property
    def parameters(self) -> dict[str, Any]:
        return self.fields["parameters_json"] or {}

    @property
    def qc(self) -> dict[str, Any] | None:
        return self.fields["qc_json"]

    @property
    def tablets(self) -> list[dict[str, Any]]:
        return list(self.gate.get("tablets", []))

    @property
    def drug_name(self) -> str:
        return str(self.lot.get("drug_name") or self.rx.get("drug", {}).get("name", ""))

    @property
    def dose_mg(self) -> float:
        return float(self.dose.get("dose_mg", 0.0))

    @property
    def worst_deviation_percent(self) -> float:
        return max((t["deviation"] * 100 for t in self.tablets), key=abs, default=0.0)

    @property
    def print_time_s(self) -> float | None:
        return self.parameters.get("estimated_print_time_s")

    @property
    def size_text(self) -> str:
        dims = self.design.get("dimensions_mm", {})
        return " × ".join(f"{value:.2f}" for value in dims.values())

    @property
    def layer_numbers(self) -> list[int]:
        """First, second, a middle and the top layer (1-based), without repeats."""
        layers = int(self.design.get("layers", 0))
        wanted = [1, 2, (layers + 1) // 2, layers]
        return [n for i, n in enumerate(wanted) if 1 <= n <= layers and n not in wanted[:i]]

    @property
    def next_step(self) -> tuple[str, str]:
        page, label = NEXT_STEP[BatchState(self.state)]
        href = "/printers" if page == "printers" else f"/batches/{self.batch_number}/{page}"
        return href, label


def load_batch(session: Session, batch_number: str) -> BatchView:
    """The batch's recorded columns; UnknownBatch (a refusal) if there is none."""
    job = get_batch(session, batch_number)
    return BatchView(job.batch_number, snapshot(job))
