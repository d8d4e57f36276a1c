"""The HTTP API under /api/v1: one router per resource, Pydantic models for what crosses the
wire, problem+json refusals, Idempotency-Key on creating POSTs.
"""
