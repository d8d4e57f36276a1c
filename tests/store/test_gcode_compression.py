"""On PostgreSQL a program is kept LZ4-compressed (migration 0009) and reads back byte for byte."""

from __future__ import annotations

from sqlalchemy import text

from printmed.audit import sha256_text
from printmed.store import Store
from printmed.store.models import StoredGcode


def test_stored_gcode_is_compressed_with_lz4_and_reads_back_the_same(any_store: Store) -> None:
    program = "".join(f"G1 X{n % 40}.{n % 7} Y{n % 30}.5 E{n * 0.0123:.5f}\n" for n in range(4000))
    with any_store.session() as session:
        session.add(StoredGcode(sha256=sha256_text(program), text=program, lines=4000))
    with any_store.read_session() as session:
        kept = session.get(StoredGcode, sha256_text(program))
        assert kept is not None and kept.text == program
        if any_store.dialect == "postgresql":
            method = session.execute(
                text(
                    "SELECT attcompression FROM pg_attribute "
                    "WHERE attrelid = 'gcode_programs'::regclass AND attname = 'text'"
                )
            ).scalar_one()
            assert method == "l"  # lz4
            used = session.execute(
                text("SELECT pg_column_compression(text) FROM gcode_programs")
            ).scalar_one()
            assert used == "lz4"
