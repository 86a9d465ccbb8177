# Shared by scripts/demo and scripts/test: find Python 3.12+ and prepare .venv.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

find_python() {
  local candidate
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3 \
      /root/.pyenv/versions/3.13*/bin/python /root/.pyenv/versions/3.12*/bin/python; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || [ -x "$candidate" ] || continue
    if "$candidate" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  return 1
}

ensure_venv() {
  local extras="$1"
  if [ ! -x .venv/bin/python ]; then
    local python
    python="$(find_python)" || {
      echo "CRM Scorecard needs Python 3.12 or newer (Django 6). Set PYTHON=/path/to/python3.12." >&2
      exit 3
    }
    "$python" -m venv .venv
    .venv/bin/python -m pip install --quiet --upgrade pip
  fi
  # requirements.lock pins every package to the versions CI last passed with (scripts/lock).
  .venv/bin/python -m pip install --quiet --disable-pip-version-check \
    -c requirements.lock -e ".${extras}"
}
