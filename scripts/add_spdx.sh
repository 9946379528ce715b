#!/usr/bin/env bash
# Adds an "SPDX-License-Identifier: MIT" line to every tracked source, header, script and CMake
# file that lacks one: the first line, or the second after a #! line. Idempotent: a file that has
# the identifier in its first three lines is left alone, so it can be run again after a merge.
#
#   scripts/add_spdx.sh           add the lines (prints the files it changed)
#   scripts/add_spdx.sh --check   change nothing; list the files without one and fail if any
set -euo pipefail
cd "$(dirname "$0")/.."

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
  *) echo "add_spdx.sh: unknown argument '$1'" >&2; exit 2 ;;
esac

tag="SPDX-License-Identifier: MIT"
# Tracked files without the identifier. Test data (fixtures, fuzz corpora) are not source files.
lacking() {
  git ls-files -- '*.hpp' '*.cpp' '*.h' '*.cu' '*.cuh' '*.py' '*.sh' '*.cmake' '*.cmake.in' 'CMakeLists.txt' '*/CMakeLists.txt' '.ci/run' |
    grep -v -E '^tests/fuzz/corpus/' |
    while IFS= read -r f; do head -n 3 "$f" | grep -q "SPDX-License-Identifier" || printf '%s\n' "$f"; done
}

if [[ $check -eq 1 ]]; then
  list="$(lacking)"
  [[ -z "$list" ]] && exit 0
  printf '%s\n' "$list"
  echo "add_spdx.sh: $(printf '%s\n' "$list" | wc -l) files without an SPDX line (run scripts/add_spdx.sh)" >&2
  exit 1
fi

lacking | while IFS= read -r f; do
  case "$f" in
    *.hpp|*.cpp|*.h|*.cu|*.cuh) line="// $tag" ;;
    *) line="# $tag" ;;
  esac
  tmp="$(mktemp "$f.XXXXXX")"
  if head -n 1 "$f" | grep -q '^#!'; then
    { head -n 1 "$f"; printf '%s\n' "$line"; tail -n +2 "$f"; } > "$tmp"
  else
    { printf '%s\n' "$line"; cat "$f"; } > "$tmp"
  fi
  chmod "$(stat -c '%a' "$f" 2>/dev/null || stat -f '%Lp' "$f")" "$tmp"
  mv "$tmp" "$f"
  printf '%s\n' "$f"
done
