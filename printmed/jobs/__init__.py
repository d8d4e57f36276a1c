"""The job service: a batch's states from draft to release, recording a gated batch, the queue,
a worker per printer, and printer control and status.

Every state change and every recorded value is an audit entry in the same transaction.
"""
