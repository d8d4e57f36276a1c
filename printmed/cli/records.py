"""`printmed records show|verify|pdf|label|sign BATCH`: read, check, print and sign batch records.

`verify` walks the whole audit chain (hashes, service signatures, the checkpoints kept outside
the database) and checks the batch (or every batch) and its e-signatures against it; it exits 1
and names the first broken entry when the record is not intact. `rotate-key` replaces the
service key (the old public key stays trusted); `checkpoint` checkpoints the chain's head now.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from printmed import audit
from printmed.cli.output import print_json, write_atomically
from printmed.cli.store_access import (
    acting_user,
    add_store_options,
    add_user_options,
    open_cli_store,
    settings_for,
    signer_by_password,
)
from printmed.jobs.service import get_batch
from printmed.keys import rotate_service_key
from printmed.records.batch_record import BatchRecord, load_record
from printmed.records.deviations import record_deviation
from printmed.records.integrity import IntegrityReport, verify_records
from printmed.records.pharmacy import pharmacy_of
from printmed.records.signatures import SIGNABLE, sign


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "records", help="batch records: show, verify, pdf, label, sign, deviation"
    )
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    show = actions.add_parser("show", help="the whole batch record and its audit trail")
    show.add_argument("batch")
    show.add_argument("--json", action="store_true")
    verify = actions.add_parser("verify", help="check the audit chain and the record(s)")
    verify.add_argument("batch", nargs="?", help="one batch (default: every batch)")
    verify.add_argument("--json", action="store_true")
    verify.add_argument(
        "--key-dir",
        type=Path,
        help="trusted public keys and checkpoints to verify against (default: $PRINTMED_KEY_DIR)",
    )
    rotate = actions.add_parser("rotate-key", help="replace the service signing key")
    checkpoint = actions.add_parser(
        "checkpoint", help="checkpoint the chain's head now (after an upgrade, before a backup)"
    )
    checkpoint.add_argument("--reason", required=True)
    add_user_options(checkpoint)
    pdf = actions.add_parser("pdf", help="write the batch record as PDF")
    pdf.add_argument("batch")
    pdf.add_argument("-o", "--output", type=Path, required=True)
    label = actions.add_parser("label", help="write the dispensing label as PDF")
    label.add_argument("batch")
    label.add_argument("-o", "--output", type=Path, required=True)
    signing = actions.add_parser("sign", help="sign the record (performed, checked, reviewed)")
    signing.add_argument("batch")
    signing.add_argument("--meaning", required=True, choices=SIGNABLE)
    add_user_options(signing)
    deviation = actions.add_parser("deviation", help="record a deviation with its reason")
    deviation.add_argument("batch")
    deviation.add_argument("--what", required=True, help="what happened")
    deviation.add_argument("--reason", required=True, help="why it is acceptable / what was done")
    add_user_options(deviation)
    for sub in (show, verify, pdf, label, signing, deviation, rotate, checkpoint):
        add_store_options(sub)
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.action == "rotate-key":
        old, new = rotate_service_key(settings_for(args).key_dir)
        print(f"service key {old} retired (its public key stays trusted); signing with {new}")
        return 0
    settings, store = open_cli_store(args)
    try:
        if args.action == "sign":
            # the password is checked through the sign-in defence, in a transaction of its own
            signer = signer_by_password(
                store, settings, args, args.meaning, f"Password to sign {args.meaning.upper()}: "
            )
            with store.session() as session:
                signature = sign(session, get_batch(session, args.batch), signer, args.meaning)
            print(
                f"{args.batch}: signed as {args.meaning} by {signature.printed_name} "
                f"at {signature.signed_at} (record {signature.record_hash[:16]}…)"
            )
            return 0
        with store.session() as session:
            if args.action == "verify":
                report = verify_records(session, args.batch, args.key_dir)
                if args.batch is not None:
                    get_batch(session, args.batch)
                return show_integrity(report, args.json)
            if args.action == "checkpoint":
                user = acting_user(session, args)
                entry = audit.checkpoint(session, user.username, args.reason)
                print(f"chain checkpointed at entry {entry.seq} ({entry.entry_hash[:16]}…)")
                return 0
            if args.action == "deviation":
                user = acting_user(session, args)
                record_deviation(
                    session, get_batch(session, args.batch), user, args.what, args.reason
                )
                print(f"{args.batch}: deviation recorded")
                return 0
            record = load_record(session, args.batch)
        if args.action == "show":
            if args.json:
                print_json(record.to_dict())
            else:
                print_record(record)
            return 0
        if args.action == "pdf":
            from printmed.records.record_pdf import batch_record_pdf

            write_atomically(args.output, batch_record_pdf(record, pharmacy_of(settings, store)))
        else:
            from printmed.records.label import label_pdf

            write_atomically(args.output, label_pdf(record, pharmacy_of(settings, store)))
        print(f"{args.batch}: wrote {args.output}")
        return 0
    finally:
        store.dispose()


def show_integrity(report: IntegrityReport, as_json: bool) -> int:
    if as_json:
        print_json(report.to_dict())
    elif report.intact:
        print(
            f"intact: {report.chain.entries} audit entries chained and signed, head "
            f"{report.chain.head_hash}; {report.chain.checkpoints} checkpoints outside the "
            f"database, the latest at entry {report.chain.checkpointed_seq}"
        )
    else:
        if not report.chain.intact:
            print(
                f"BROKEN: audit entry {report.chain.first_broken_seq}: {report.chain.problem}",
                file=sys.stderr,
            )
        for problem in report.problems:
            print(f"BROKEN: {problem}", file=sys.stderr)
    return 0 if report.intact else 1


def _short(value: Any, width: int = 90) -> str:
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= width else text[: width - 1] + "…"


def print_record(record: BatchRecord) -> None:
    f = record.fields
    rx, lot = f["prescription_json"], f["formulation_json"]
    dose = f.get("dose_json") or {}
    qc = f.get("qc_json") or {}
    print(
        f"batch {record.batch_number}  state {f['state']}  printer {f['printer']} "
        f"({f['profile_id']})"
    )
    print(
        f"prescription {rx['id']}: patient {rx['patient']['id']}, {rx['drug']['name']}, "
        f"{rx['units']} units"
    )
    print(
        f"lot {lot['lot']} ({lot['id']}): assay {lot.get('assay_percent')} %, density "
        f"{lot['density_g_cm3']} g/cm³, expiry {lot['expiry']}"
    )
    for kind, pin in sorted((f.get("master_pins_json") or {}).items()):
        print(f"master file {kind} {pin['key']} v{pin['version']} (id {pin['id']}) {pin['sha256']}")
    if dose:
        print(f"dose {dose.get('dose_mg')} mg per unit")
    print(f"G-code SHA-256 {f.get('gcode_sha256')} ({record.gcode_lines} lines)")
    report = f.get("stream_report_json")
    if report:
        print(
            f"stream: {report.get('lines_acknowledged')}/{report.get('lines_total')} lines "
            f"acknowledged, last file line {report.get('last_acknowledged_line')}, "
            f"complete {report.get('complete')}"
        )
    if qc:
        from printmed.records.qc import qc_lines

        for line in qc_lines(qc):
            print(f"QC: {line}")
    for deviation in record.deviations:
        print(
            f"DEVIATION at {deviation['at']} by {deviation['actor']}: "
            f"{deviation['description']} ({deviation['reason']})"
        )
    for signature in record.signatures:
        print(
            f"signed {signature['meaning']} by {signature['printed_name']} "
            f"({signature['username']}) at {signature['signed_at']}"
        )
    for column, changes in record.corrections.items():
        for change in changes:
            print(
                f"CHANGED {column} at {change['at']} by {change['actor']}: "
                f"{_short(change['changed'], 100)} "
                f"({change['reason']})"
            )
    print("audit trail:")
    for entry in record.trail:
        print(
            f"  #{entry['seq']} {entry['at']} {entry['actor']} {entry['action']}"
            + (f" — {entry['reason']}" if entry["reason"] else "")
        )
    state = "intact" if record.integrity.intact else "NOT INTACT"
    print(f"record {state}")
