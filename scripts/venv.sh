# Sourced by scripts/test and scripts/wheel: use the active virtual environment, else the
# clone's .venv (which the README's first command creates).
if [ -z "${VIRTUAL_ENV:-}" ]; then
  if [ -f .venv/bin/activate ]; then
    . .venv/bin/activate
  else
    echo "$0: no virtual environment: run the README's first command, or activate one" >&2
    exit 2
  fi
fi
