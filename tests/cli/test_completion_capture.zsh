#!/bin/zsh -f
# SPDX-License-Identifier: Apache-2.0
# test_completion_capture.zsh FPATH_DIR LINE: the matches zsh's completion system offers for
# LINE followed by Tab, one per line. An interactive zsh runs in a pseudo-terminal (zpty)
# with compinit, _nexus from FPATH_DIR, and compadd wrapped to print each match it adds;
# the completion ends the shell (comppostfuncs), so the output is read to its end.
zmodload zsh/zpty || { print -u2 'zsh has no zsh/zpty module'; exit 2 }
local fpath_dir=$1 line=$2
local setup=$(mktemp)
trap 'rm -f $setup' EXIT
cat >$setup <<'SETUP'
PROMPT='' RPROMPT='' PS2=''
autoload -Uz compinit && compinit -u -D
zstyle ':completion:*' list-grouped false
zstyle ':completion:*' insert-tab false
bindkey '^I' complete-word
_capture_end() { exit }
comppostfuncs=(_capture_end)
compadd() {
  # Calls that only ask compadd for matches (-O, -A, -D) add nothing: pass them through.
  if [[ ${@[1,(i)(-|--)]} == *-(O|A|D)\ * ]]; then
    builtin compadd "$@"
    return
  fi
  local -a hits
  builtin compadd -A hits "$@"
  local hit
  for hit in $hits; do print -r -- "@@MATCH@@$hit"; done
  builtin compadd "$@"
}
print -r -- '@@READY@@'
SETUP
zpty capture "zsh -f -i"
zpty -w capture "fpath=(${(q)fpath_dir} \$fpath); source ${(q)setup}"
local out all=''
zpty -r -m capture out '*@@READY@@*' || { print -u2 'zsh did not start'; exit 2 }
zpty -w -n capture "$line"$'\t'
while zpty -r capture out; do all+=$out; done
zpty -d capture
local -a lines=("${(@f)${all//$'\r'/}}")
# A match may follow the echoed line on the same terminal line.
print -rl -- ${${(M)lines:#*@@MATCH@@*}##*@@MATCH@@}
