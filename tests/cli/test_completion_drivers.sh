# SPDX-License-Identifier: Apache-2.0
# Drive nexus's completion in real shells: complete_in SHELL LINE prints what SHELL offers
# for LINE (the cursor at its end), one match per line. Source it; set
#   COMPLETION_BASH  the bash script (installed as bash-completion's completions/nexus)
#   COMPLETION_ZSH   the zsh script (installed as site-functions/_nexus)
#   COMPLETION_FISH  the fish script (installed as vendor_completions.d/nexus.fish)
# and put the nexus under test first on PATH (the scripts run `nexus __complete`).

COMPLETION_LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# shell_missing SHELL: why SHELL cannot be tested here, or nothing.
shell_missing() {
  case $1 in
    bash) command -v bash >/dev/null || echo "bash is not installed" ;;
    zsh)
      if ! command -v zsh >/dev/null; then echo "zsh is not installed (Debian package zsh)"
      elif ! zsh -fc 'zmodload zsh/zpty' 2>/dev/null; then echo "zsh has no zsh/zpty module"
      fi ;;
    fish) command -v fish >/dev/null || echo "fish is not installed (Debian package fish)" ;;
    *) echo "unknown shell $1" ;;
  esac
}

# bash: the script sourced (after bash-completion's own, when installed), then _nexus called
# with COMP_WORDS split as readline does: at blanks, with '=' and ':' (COMP_WORDBREAKS)
# as words of their own.
complete_bash() {
  bash --norc --noprofile -c '
    [ -r /usr/share/bash-completion/bash_completion ] && . /usr/share/bash-completion/bash_completion
    . "$1" || exit 2
    line=$2
    words=()
    read -ra raw <<<"$line"
    for w in "${raw[@]}"; do
      while [[ $w == *[=:]* ]]; do
        head=${w%%[=:]*}
        [[ -n $head ]] && words+=("$head")
        w=${w:${#head}}
        sep=${w%%[^=:]*}
        words+=("$sep")
        w=${w:${#sep}}
      done
      [[ -n $w ]] && words+=("$w")
    done
    [[ $line == *" " ]] && words+=("")
    COMP_LINE=$line COMP_POINT=${#line}
    COMP_WORDS=("${words[@]}") COMP_CWORD=$((${#words[@]} - 1))
    COMPREPLY=()
    _nexus nexus "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD-1]}"
    (( ${#COMPREPLY[@]} )) && printf "%s\n" "${COMPREPLY[@]}"
    exit 0' complete_bash "$COMPLETION_BASH" "$1"
}

# zsh: compinit with _nexus on fpath, in an interactive zsh on a pseudo-terminal.
complete_zsh() {
  local dir
  dir=$(mktemp -d) || return 2
  cp "$COMPLETION_ZSH" "$dir/_nexus"
  timeout 30 zsh -f "$COMPLETION_LIB_DIR/test_completion_capture.zsh" "$dir" "$1"
  local rc=$?
  rm -rf "$dir"
  return $rc
}

# fish: complete -C, the matches without their descriptions.
complete_fish() {
  timeout 30 fish --no-config -c 'source $argv[1]; or exit 2; complete -C $argv[2]' \
    "$COMPLETION_FISH" "$1" | cut -f1
}

complete_in() {
  "complete_$1" "$2"
}

# sorted_words WORDS...: the words, one per line, sorted (to compare sets of matches).
sorted_words() { printf '%s\n' "$@" | sed '/^$/d' | LC_ALL=C sort -u; }
