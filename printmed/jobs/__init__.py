"""The job service: a batch's states from draft to release, and a worker per printer.

Every state change and every recorded value is an audit entry in the same transaction.
"""
