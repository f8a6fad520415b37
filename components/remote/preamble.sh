#!/usr/bin/env bash
# The start of every node script: components/scripts.py inlines this file
# where a script says "# include: ../remote/preamble.sh", its first command
# (the parameters the renderer assigns come above the script's header).
#   strict mode  an error, an unset variable or a failed pipe stops the script
#   R            the root every path a script touches is under: PREP_ROOT
#                (environment, default empty), so that tests run the script
#                against a scratch directory with stand-ins for the system
#                commands
#   say, die     a line on standard output, or on standard error and exit 1,
#                after the prefix the script names with `say_as` (default node)
# shellcheck disable=SC2034  # R is read by the includer
set -euo pipefail
: "${PREP_ROOT=}"
R=$PREP_ROOT
SAY_AS=node

say_as() { SAY_AS=$*; }
say() { printf '%s: %s\n' "$SAY_AS" "$*"; }
die() {
  say "$@" >&2
  exit 1
}
