#!/usr/bin/env bash
# Installs the benchmark's slicing peers from Debian: CuraEngine, PrusaSlicer, and Cura's two
# machine definitions (only the `cura` .deb ships them; we extract them rather than install the GUI).
set -euo pipefail
dest="${PRINTMED_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/printmed-peers}"
mkdir -p "$dest"
need=()
command -v CuraEngine >/dev/null || need+=(cura-engine)
command -v prusa-slicer >/dev/null || need+=(prusa-slicer)
if ((${#need[@]})); then
  if [ "$(id -u)" -ne 0 ]; then echo "install_peers: need root to install: ${need[*]}" >&2; exit 1; fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if [ ! -f "$dest/fdmprinter.def.json" ] || [ ! -f "$dest/fdmextruder.def.json" ]; then
  work="$(mktemp -d)"
  trap 'rm -rf "$work"' EXIT
  (cd "$work" && apt-get download cura >/dev/null)
  dpkg-deb --fsys-tarfile "$work"/cura_*.deb \
    | tar -x -C "$work" --wildcards '*/definitions/fdmprinter.def.json' '*/definitions/fdmextruder.def.json'
  find "$work" -name 'fdm*.def.json' -exec cp {} "$dest/" \;
fi
echo "$dest"
