"""`printmed masterfile list|show|diff|pending|propose|approve|reject|import|export|import-signed`:
the point-of-care master file under change control. Proposing (and importing, which proposes)
is a technician's or a pharmacist's; approving or rejecting a second pharmacist's who holds the
control-site role, approving by password as an e-signature.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from printmed.cli.store_access import (
    acting_user,
    add_store_options,
    add_user_options,
    open_cli_store,
    signer_by_password,
)

if TYPE_CHECKING:
    from printmed.store.models import MasterVersion

HELP = "master file: show, propose, approve, import, export"


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("masterfile", help=HELP)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    listing = actions.add_parser("list", help="every document, its version in force, proposals")
    listing.add_argument("--json", action="store_true")
    show = actions.add_parser("show", help="a document: content in force and its history")
    show.add_argument("kind", help="product, lot or profile")
    show.add_argument("key", help="the document's id (e.g. propranolol-pva-10)")
    show.add_argument("--version", type=int, help="show this version (default: in force)")
    show.add_argument("--json", action="store_true")
    diff = actions.add_parser("diff", help="what changed between two versions of a document")
    diff.add_argument("kind")
    diff.add_argument("key")
    diff.add_argument("before", type=int, help="version number")
    diff.add_argument("after", type=int, help="version number")
    pending = actions.add_parser("pending", help="proposals awaiting a decision")
    propose = actions.add_parser("propose", help="propose a new version from a JSON file")
    propose.add_argument("kind")
    propose.add_argument("key")
    propose.add_argument("file", type=Path, help="the document's whole content, JSON")
    propose.add_argument("--reason", required=True)
    decisions = []
    for verb in ("approve", "reject"):
        decide = actions.add_parser(
            verb, help=f"{verb} a proposal (control-site pharmacist, not its author)"
        )
        decide.add_argument("version_id", type=int, help="the proposal's id (see pending)")
        decide.add_argument("--reason", required=True)
        decisions.append(decide)
    folder = actions.add_parser("import", help="propose what differs in a fixtures-style folder")
    folder.add_argument("folder", type=Path)
    folder.add_argument("--reason", required=True)
    export = actions.add_parser("export", help="the approved master file, signed (JSON + PDF)")
    export.add_argument("file", type=Path, help="where to write the signed JSON")
    export.add_argument("--pdf", type=Path, help="also write the PDF here (default: FILE.pdf)")
    signed = actions.add_parser("import-signed", help="check a signed master file; propose it")
    signed.add_argument("file", type=Path)
    signed.add_argument("--reason", required=True)
    signed.add_argument("--expect-fingerprint", help="the signer's key fingerprint to insist on")
    for sub in (propose, *decisions, folder, signed):
        add_user_options(sub)
    for sub in (listing, show, diff, pending, propose, *decisions, folder, export, signed):
        add_store_options(sub)
    parser.set_defaults(run=run)


def _line(row: MasterVersion) -> str:
    verb = "rejected" if row.status == "rejected" else "approved"
    decided = f", {verb} by {row.decided_by} {row.decided_at[:19]}" if row.decided_at else ""
    return (
        f"  v{row.version} {row.status:<10} {row.content_sha256[:12]}  {row.source} by "
        f"{row.proposed_by} {row.proposed_at[:19]}: {row.reason}{decided}"
    )


def _difference_lines(difference: list[dict[str, Any]]) -> list[str]:
    return [
        f"    {d['path']}: {json.dumps(d['before'])} → {json.dumps(d['after'])}" for d in difference
    ]


def _read_json(path: Path, field: str) -> Any:
    from printmed.errors import InputError

    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(field, str(path), f"cannot be read ({exc.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(field, str(path), f"is not JSON ({exc})") from None


def _write(path: Path, data: bytes, field: str) -> None:
    from printmed.errors import InputError

    try:
        path.write_bytes(data)
    except OSError as exc:
        raise InputError(field, str(path), f"cannot be written ({exc.strerror})") from None


def _proposed(report_rows: list[MasterVersion]) -> None:
    for row in report_rows:
        print(f"proposed {row.kind} {row.key} v{row.version} (id {row.id})")


def run(args: argparse.Namespace) -> int:
    from printmed.records import masterfile

    settings, store = open_cli_store(args)
    try:
        if args.action == "approve":
            signer = signer_by_password(
                store, settings, args, masterfile.APPROVAL_MEANING, "Password to approve: "
            )
            with store.session() as session:
                row = masterfile.approve(session, args.version_id, signer, args.reason)
                print(
                    f"approved {row.kind} {row.key} v{row.version} (id {row.id}); "
                    f"signed {row.approval_signature[:16] if row.approval_signature else ''}…; "
                    "batches are made with it from now on"
                )
            return 0
        if args.action in ("propose", "reject", "import", "import-signed"):
            return _change(args, store)
        if args.action == "export":
            with store.read_session() as session:
                signed = masterfile.export(session)
            pdf_path = args.pdf or args.file.with_suffix(".pdf")
            _write(args.file, (signed.text + "\n").encode(), "file")
            _write(pdf_path, signed.pdf(), "--pdf")
            print(
                f"exported {len(signed.document['versions'])} approved versions to {args.file} "
                f"and {pdf_path}; signed by service key {signed.fingerprint}"
            )
            return 0
        with store.read_session() as session:
            return _read(args, session)
    finally:
        store.dispose()


def _change(args: argparse.Namespace, store: Any) -> int:
    from printmed.records import masterfile

    with store.session() as session:
        user = acting_user(session, args)
        if args.action == "propose":
            content = _read_json(args.file, "file")
            row = masterfile.propose(session, user, args.kind, args.key, content, args.reason)
            print(
                f"proposed {row.kind} {row.key} v{row.version} (id {row.id}); "
                "a second person with the control-site role approves it"
            )
            print("\n".join(_difference_lines(json.loads(row.diff_json))))
        elif args.action == "reject":
            row = masterfile.reject(session, args.version_id, user, args.reason)
            print(f"rejected {row.kind} {row.key} v{row.version} (id {row.id})")
        elif args.action == "import":
            report = masterfile.import_folder(session, args.folder, user, args.reason)
            _proposed(report.proposed)
            print(f"{len(report.proposed)} proposed, {len(report.unchanged)} unchanged")
        else:
            from printmed.errors import InputError

            if not args.file.is_file():
                raise InputError("file", str(args.file), "is not a file")
            text = args.file.read_bytes()
            report = masterfile.import_signed(
                session,
                text,
                user,
                args.reason,
                expected_fingerprint=args.expect_fingerprint,
            )
            _proposed(report.proposed)
            print(
                f"signature checked; {len(report.proposed)} proposed, "
                f"{len(report.unchanged)} unchanged (approve each here before use)"
            )
    return 0


def _read(args: argparse.Namespace, session: Any) -> int:
    from printmed.records import masterfile

    if args.action == "list":
        summaries = masterfile.documents(session)
        if args.json:
            print(
                json.dumps(
                    [
                        {
                            "kind": s.kind,
                            "key": s.key,
                            "in_force": None if s.in_force is None else s.in_force.version,
                            "content_sha256": None
                            if s.in_force is None
                            else s.in_force.content_sha256,
                            "latest": s.latest.version,
                            "pending": s.pending,
                        }
                        for s in summaries
                    ],
                    indent=2,
                )
            )
            return 0
        for s in summaries:
            force = f"v{s.in_force.version} {s.in_force.content_sha256[:12]}" if s.in_force else "-"
            waiting = f"  {s.pending} pending" if s.pending else ""
            print(f"{s.kind:<8} {s.key:<26} in force {force}{waiting}")
        return 0
    if args.action == "pending":
        for row in masterfile.pending(session):
            print(f"id {row.id}: {row.kind} {row.key} v{row.version}")
            print(_line(row))
            print("\n".join(_difference_lines(json.loads(row.diff_json))))
        return 0
    rows = masterfile.history(session, args.kind, args.key)
    by_version = {row.version: row for row in rows}
    if args.action == "diff":
        from printmed.errors import InputError

        for number in (args.before, args.after):
            if number not in by_version:
                raise InputError("version", number, f"is not a version of {args.kind} {args.key}")
        before, after = (json.loads(by_version[n].content_json) for n in (args.before, args.after))
        print(f"{args.kind} {args.key} v{args.before} → v{args.after}")
        print("\n".join(_difference_lines(masterfile.difference(before, after))) or "  (same)")
        return 0
    shown = by_version.get(args.version) if args.version else None
    if shown is None:
        shown = next((r for r in rows if r.status == masterfile.APPROVED), rows[-1])
    if args.version and args.version not in by_version:
        from printmed.errors import InputError

        raise InputError("--version", args.version, f"is not a version of {args.kind} {args.key}")
    if args.json:
        print(
            json.dumps(
                {"shown": masterfile.describe(shown), "history": [_brief(r) for r in rows]},
                indent=2,
            )
        )
        return 0
    print(f"{shown.kind} {shown.key} v{shown.version} ({shown.status}) {shown.content_sha256}")
    content = json.loads(shown.content_json)
    print(json.dumps(content, indent=2, sort_keys=True))
    if shown.kind == "lot":  # stock is the ledger's, not a versioned field
        from printmed.jobs import stock

        held = stock.ledger(session, str(content.get("lot")))
        print(
            f"stock of {held.lot} (the ledger: `printmed lots show`): received "
            f"{held.received_g:.3f} g, used {held.used_g:.3f} g, remaining {held.remaining_g:.3f} g"
        )
    print("history:")
    for row in rows:
        print(_line(row))
        if row.version > 1:
            print("\n".join(_difference_lines(json.loads(row.diff_json))))
    return 0


def _brief(row: MasterVersion) -> dict[str, Any]:
    from printmed.records import masterfile

    described = masterfile.describe(row)
    described.pop("content")
    return described
