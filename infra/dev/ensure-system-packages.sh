#!/usr/bin/env bash
# Installs the Debian packages the test suite's real servers come from, when they are missing:
# PostgreSQL (build history), Redis (quota tokens), git (repositories), python3-pip (obtains the
# Temporal CLI wheel), bubblewrap and runsc (the local runner's step sandboxes).
# Needs root (or sudo) on a Debian-like system; elsewhere it says what to install and stops.
set -euo pipefail

missing=()
if ! command -v initdb >/dev/null 2>&1 && ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
  missing+=(postgresql)
fi
command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ] || missing+=(redis-server)
command -v git >/dev/null 2>&1 || missing+=(git)
python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
command -v bwrap >/dev/null 2>&1 || missing+=(bubblewrap)
command -v runsc >/dev/null 2>&1 || missing+=(runsc)

if [ ${#missing[@]} -eq 0 ]; then
  echo "system packages: all present"
  exit 0
fi

echo "system packages: installing ${missing[*]}"
if ! command -v apt-get >/dev/null 2>&1; then
  echo "cannot install ${missing[*]}: no apt-get here; install them with your package manager" >&2
  exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
