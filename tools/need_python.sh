# Sourced before a virtualenv is made: refuse, in one line, a python3 older than the pins need. The minimum lives
# once, as pyright's pythonVersion in pyproject.toml (numpy 2.4 and Locust 2.47 need 3.11).
minimum=$(sed -n 's/^pythonVersion = "\([0-9.]*\)"$/\1/p' pyproject.toml)
if ! found=$(python3 -c "
import sys
need = tuple(int(part) for part in '$minimum'.split('.'))
print('%d.%d' % sys.version_info[:2])
sys.exit(sys.version_info[:2] < need)
" 2>&1); then
  echo "python3 is ${found:-missing}; the pinned packages need Python $minimum or newer: install it and put it first on PATH (or run with PATH=/path/to/python$minimum/bin:\$PATH)." >&2
  exit 1
fi
