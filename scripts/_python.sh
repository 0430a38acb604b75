# Sourced by scripts/demo and scripts/test: picks the Python interpreter they run with.
#
#   persona_python MODULE...   sets PY to the interpreter to use and NEED_INSTALL to 1 when
#                              MODULE... (module names) must still be pip-installed into it
#
# 1. $PYTHON, when set, is used as it is (the caller installs into it if something is missing).
# 2. python3, when it can already import everything, or when it runs inside a virtual
#    environment (installing there is what the user asked for).
# 3. Otherwise python3 is a system or shared interpreter, which may refuse `pip install`
#    (PEP 668 "externally-managed-environment") and should not be changed anyway: the
#    repository's own `.venv` is used, created on first use.
persona_python() {
  local IFS=,
  local check="import $*"  # import a,b,c
  if [[ -n ${PYTHON:-} ]]; then
    PY=$PYTHON
  else
    PY=python3
    if ! "$PY" -c "$check" 2>/dev/null \
        && ! "$PY" -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)' 2>/dev/null; then
      if [[ ! -x .venv/bin/python ]]; then
        echo "not in a virtual environment: creating .venv for the dependencies..." >&2
        if ! "$PY" -m venv .venv; then
          echo "error: could not create .venv with $(command -v "$PY");" \
               "install the venv module (Debian/Ubuntu: apt install python3-venv)" >&2
          return 1
        fi
      fi
      PY=.venv/bin/python
    fi
  fi
  NEED_INSTALL=0
  "$PY" -c "$check" 2>/dev/null || NEED_INSTALL=1
}
