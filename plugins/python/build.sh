#!/usr/bin/env bash
# Builds the Python plugins in plugins/python into components with componentize-py:
#   plugins/python/<name>/app.py  ->  target/wasm32-wasip2/release/leitstand_<name>_py.wasm
# A virtual environment in target/python-venv holds the pinned componentize-py
# (requirements.txt) and target/python-deps the packages bundled into every component
# (tzdata: a plugin has no files at run time). Nothing is rebuilt when nothing changed.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/target/python-venv"
deps="$root/target/python-deps"
out="$root/target/wasm32-wasip2/release"
wit="$root/wit/plugin@0.1.0"
stamp="$root/target/python-venv.requirements"

if [[ ! -x "$venv/bin/componentize-py" ]] || ! cmp -s "$here/requirements.txt" "$stamp"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt"
  rm -rf "$deps"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --target "$deps" \
    "$(grep '^tzdata' "$here/requirements.txt")"
  cp "$here/requirements.txt" "$stamp"
fi

mkdir -p "$out"
for dir in "$here"/*/; do
  name="$(basename "$dir")"
  [[ -f "$dir/app.py" ]] || continue
  wasm="$out/leitstand_${name}_py.wasm"
  if [[ -f "$wasm" && "$wasm" -nt "$dir/app.py" && "$wasm" -nt "$wit/plugin.wit" && "$wasm" -nt "$stamp" ]]; then
    continue
  fi
  echo "componentize-py: $name -> $wasm"
  # componentize-py writes the generated bindings next to the build; keep them out of the tree.
  work="$(mktemp -d)"
  (cd "$work" && "$venv/bin/componentize-py" -d "$wit" -w plugin componentize \
      -p "$dir" -p "$deps" app -o "$wasm.tmp")
  rm -rf "$work"
  mv "$wasm.tmp" "$wasm"
done
