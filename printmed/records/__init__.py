"""Electronic batch records: weights and QC, integrity checks, e-signatures, release, documents.

Everything here reads and writes through the audit trail of printmed.audit.
"""
