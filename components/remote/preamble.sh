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
#   wait_up_to   SECONDS EVERY WHAT CONDITION...: run CONDITION every EVERY
#                seconds until it succeeds; after SECONDS, die waiting for WHAT
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
wait_up_to() {
  local seconds=$1 every=$2 what=$3 waited=0
  shift 3
  until "$@"; do
    ((waited < seconds)) || die "gave up after ${seconds}s waiting for $what"
    sleep "$every"
    waited=$((waited + every))
  done
}
