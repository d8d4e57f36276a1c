"""Hypothesis for the whole suite, chosen once before any test module is imported.

In CI (`CI` set, as CI runners do) every run draws the same examples, and a failure prints the
blob that replays it; a local run draws new examples, keeps each failure in the example
database (`.hypothesis/`) and replays it first next time. `HYPOTHESIS_PROFILE=ci` runs the CI
draw locally. Neither judges a test by how long an example took: a loaded machine is not a bug.
"""

from __future__ import annotations

import os
import tempfile

from hypothesis import HealthCheck, settings

# from Hypothesis's own default profile, not whichever it loaded on seeing a CI variable
settings.register_profile(
    "local",
    settings.get_profile("default"),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.register_profile("ci", settings.get_profile("local"), derandomize=True, database=None)


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


# The service key and checkpoints of every store a test makes go to a folder of this run, never
# to the user's ~/.config/printmed/keys (tests that study keys set their own folder).
os.environ.setdefault("PRINTMED_KEY_DIR", tempfile.mkdtemp(prefix="printmed-keys-"))

settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE") or ("ci" if _in_ci() else "local"))
