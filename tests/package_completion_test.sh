#!/bin/bash
# package.bash_completion: the bash completion (packaging/bash-completion/courier)
# against the built CLI, as bash calls it (COMP_WORDS, COMP_CWORD, _courier).
# The commands expected are those `courier --help` lists, so a new command is
# checked without a change here. Makes a bus of its own (removed at exit).
# usage: package_completion_test.sh COURIER COMPLETION_SCRIPT
set -u
cli=$1
script=$2
bus="pkgcomp-$$"
failures=0
trap '"$cli" rm "$bus" --force >/dev/null 2>&1' EXIT

# shellcheck source=/dev/null
source "$script" || { echo "FAIL: sourcing $script"; exit 1; }

# complete WORD... : what _courier offers for the last word.
complete_words() {
  COMP_WORDS=("$cli" "$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMP_LINE="${COMP_WORDS[*]}"
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  _courier
  ((${#COMPREPLY[@]} > 0)) && printf '%s\n' "${COMPREPLY[@]}" | sort
}

# offered "WORD... " : what is offered for the last word of the line (empty
# after a trailing space).
offered() {
  local -a words
  read -r -a words <<<"$1"
  [[ -z $1 || $1 == *' ' ]] && words+=('')
  complete_words "${words[@]}"
}

# expect "WORD..." CANDIDATE... : every candidate is offered.
expect() {
  local line=$1 got c
  shift
  got=$(offered "$line")
  for c in "$@"; do
    if ! grep -qxF -- "$c" <<<"$got"; then
      echo "FAIL: courier ${line}<TAB> does not offer '$c' (offers: $(tr '\n' ' ' <<<"$got"))"
      failures=$((failures + 1))
    fi
  done
}

# expect_only "WORD..." CANDIDATE... : exactly these are offered.
expect_only() {
  local line=$1 got want
  shift
  got=$(offered "$line")
  want=$( (($# > 0)) && printf '%s\n' "$@" | sort)
  if [[ $got != "$want" ]]; then
    echo "FAIL: courier ${line}<TAB> offers '$(tr '\n' ' ' <<<"$got")', expected '$*'"
    failures=$((failures + 1))
  fi
}

"$cli" create "$bus" >/dev/null || { echo "FAIL: courier create $bus"; exit 1; }
"$cli" endpoint add "$bus" pkgcomp-alice >/dev/null || { echo "FAIL: endpoint add"; exit 1; }
"$cli" group add "$bus" pkgcomp-team pkgcomp-alice >/dev/null || { echo "FAIL: group add"; exit 1; }

# Every command `courier --help` lists (its first word) is offered for the first word.
firsts=$("$cli" --help | awk '/^commands:/ { c = 1; next } c && /^$/ { c = 0 } c && /^  [a-z]/ { print $1 }' | sort -u)
[[ -n $firsts ]] || { echo "FAIL: no commands read from courier --help"; exit 1; }
# shellcheck disable=SC2086
expect_only "" $firsts
expect "" create send recv stat rm help
expect_only "cre" create
expect_only "endpoint " add rm ls
expect "help " send stat
# Options: of the command, and the values of those that list them.
expect "send --w" --wait
expect_only "send --sync " always group os
expect_only "send $bus --wait " sent delivered read
expect "stat --" --json --help
# Operands: buses from /dev/shm, endpoints and groups from the bus.
expect "stat pkgcomp-" "$bus"
expect "send --priority 3 pkgcomp-" "$bus"
expect_only "send $bus --from " pkgcomp-alice
expect_only "recv $bus " pkgcomp-alice
expect_only "group rm $bus " pkgcomp-team
expect_only "group add $bus pkgcomp-team " pkgcomp-alice
# Nothing is offered where nothing fits.
expect_only "stat $bus "

if ((failures > 0)); then
  echo "$failures completion check(s) failed"
  exit 1
fi
echo "bash completion: all checks passed"
