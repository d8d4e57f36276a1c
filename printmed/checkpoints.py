"""Signed checkpoints of the audit chain's head, kept outside the database: one JSON line each,
appended (never rewritten) to `checkpoints/<chain id>.jsonl` in the key folder.

A checkpoint says "entry `seq` of chain `chain_id` had hash `head_hash`", signed by the service
key; since every entry's hash covers the one before, it vouches for the whole chain up to `seq`.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path

from printmed.errors import InputError
from printmed.keys import ServiceKey, TrustedKeys

CHECKPOINT_DIR = "checkpoints"
PURPOSE = "chain-checkpoint"


class CheckpointUnreadable(InputError):
    """A line of the checkpoint file is not a checkpoint."""

    def __init__(self, path: Path, line_number: int, line: str) -> None:
        super().__init__("checkpoint", f"{path}:{line_number}", f"is not a checkpoint: {line!r}")


@dataclass(frozen=True)
class Checkpoint:
    """The head of chain `chain_id` (the hash of its first entry) at entry `seq`."""

    chain_id: str
    seq: int
    head_hash: str
    at: str
    key_id: str
    signature: str

    def message(self) -> str:
        return f"{self.chain_id}\n{self.seq}\n{self.head_hash}\n{self.at}"

    def signed_by(self, trusted: TrustedKeys) -> bool:
        return trusted.verifies(self.key_id, PURPOSE, self.message(), self.signature)


def checkpoint_file(key_dir: Path, chain_id: str) -> Path:
    return key_dir / CHECKPOINT_DIR / f"{chain_id}.jsonl"


def make_checkpoint(
    key: ServiceKey, chain_id: str, seq: int, head_hash: str, at: str
) -> Checkpoint:
    unsigned = Checkpoint(chain_id, seq, head_hash, at, key.key_id, "")
    return Checkpoint(
        chain_id, seq, head_hash, at, key.key_id, key.sign(PURPOSE, unsigned.message())
    )


def write_checkpoints(key_dir: Path, checkpoints: Iterable[Checkpoint]) -> None:
    """Append the checkpoints to their chains' files: O_APPEND, one locked write, fsync."""
    by_chain: dict[str, list[Checkpoint]] = {}
    for checkpoint in checkpoints:
        by_chain.setdefault(checkpoint.chain_id, []).append(checkpoint)
    for chain_id, lines in by_chain.items():
        path = checkpoint_file(key_dir, chain_id)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        text = "".join(json.dumps(asdict(c), sort_keys=True) + "\n" for c in lines)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            os.write(descriptor, text.encode("utf-8"))
            os.fsync(descriptor)
        finally:
            os.close(descriptor)


def read_checkpoints(key_dir: Path, chain_id: str) -> list[Checkpoint]:
    """The chain's checkpoints in the order they were written (empty if there is no file).

    A last line without its newline is a write cut short by a crash, and is left out."""
    path = checkpoint_file(key_dir, chain_id)
    if not path.exists():
        return []
    found = []
    lines = path.read_text(encoding="utf-8").split("\n")[:-1]
    for number, line in enumerate(lines, start=1):
        try:
            found.append(Checkpoint(**json.loads(line)))
        except (ValueError, TypeError):
            raise CheckpointUnreadable(path, number, line) from None
    return found
