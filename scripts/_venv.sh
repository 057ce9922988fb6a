# Sourced by scripts/test and scripts/demo: create .venv once and install into it.
# Usage: ensure_venv EXTRAS GROUPS   e.g. ensure_venv "fake" "dev"
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"

ensure_venv() {
    local extras="$1" groups="$2"
    if [ ! -x "$PY" ]; then
        python3 -m venv "$VENV"
    fi
    # A stamp of what was installed from which pyproject: reinstall only on change.
    local stamp="$VENV/.installed-$(echo "$extras-$groups" | tr ', ' '__')"
    local want
    want="$(sha256sum "$ROOT/pyproject.toml" | cut -d' ' -f1)"
    if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
        "$PY" -m pip install --quiet --disable-pip-version-check --upgrade "pip>=25.1"
        local target="$ROOT"
        [ -n "$extras" ] && target="$ROOT[$extras]"
        local group_args=()
        for group in ${groups//,/ }; do group_args+=(--group "$ROOT/pyproject.toml:$group"); done
        "$PY" -m pip install --quiet --disable-pip-version-check -e "$target" "${group_args[@]}"
        echo "$want" > "$stamp"
    fi
}
