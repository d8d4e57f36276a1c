#!/usr/bin/env bash
# Debian packages the test suite needs on a fresh machine; installs only what is missing.
set -euo pipefail
need=()
# (each capability adds the Debian packages it needs here, with the reason)
# records: the store tests run on a real PostgreSQL 15 server started by the test session
[ -x /usr/lib/postgresql/15/bin/pg_ctl ] || need+=(postgresql-15)
# records: PDF pages are rendered to PNG to be looked at
command -v pdftoppm >/dev/null || need+=(poppler-utils)
# records: batch record and label PDFs use DejaVu Sans for µ, ², ≤ and any patient's name
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
# web: the pages are tested in Debian's Chromium driven by Playwright (never `playwright install`)
[ -x /usr/bin/chromium ] || need+=(chromium)
if ((${#need[@]})); then
  if [ "$(id -u)" -ne 0 ]; then echo "system-deps: need root to install: ${need[*]}" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
fi
