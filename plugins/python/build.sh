#!/usr/bin/env bash
# Builds the Python plugins in plugins/python into components with componentize-py:
#   plugins/python/<name>/app.py  ->  target/wasm32-wasip2/release/leitstand_<name>_py.wasm
# A virtual environment in target/python-venv holds the pinned componentize-py
# (requirements.txt) and target/python-deps the packages bundled into every component
# (tzdata: a plugin has no files at run time). Nothing is installed again while
# requirements.txt is unchanged, and a plugin is built again only when a .py file in its
# directory, the WIT contract or the requirements changed.
#
# PYTHON names the interpreter that creates the environment (default python3, ≥ 3.9); it
# only runs pip: componentize-py brings its own CPython into the component.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="$root/target/python-venv"
deps="$root/target/python-deps"
out="$root/target/wasm32-wasip2/release"
wit="$root/wit/plugin@0.1.0"
stamp="$root/target/python-venv.requirements"
pip=("$venv/bin/pip" install --quiet --disable-pip-version-check)

if [[ ! -x "$venv/bin/componentize-py" ]] || ! cmp -s "$here/requirements.txt" "$stamp"; then
  echo "build.sh: installing $(grep -v '^#' "$here/requirements.txt" | tr '\n' ' ')into target/"
  rm -f "$stamp"
  "${PYTHON:-python3}" -m venv "$venv"
  "${pip[@]}" -r "$here/requirements.txt"
  rm -rf "$deps"
  # Packages the plugins import go into a directory of their own, handed to componentize-py
  # with -p; the venv holds the build tool. Add a package the plugins need to the pattern.
  "${pip[@]}" --target "$deps" $(grep -E '^(tzdata)==' "$here/requirements.txt")
  cp "$here/requirements.txt" "$stamp"
fi

work=""
trap 'rm -rf "$work"; rm -f "$out"/*.wasm.tmp' EXIT
mkdir -p "$out"
for dir in "$here"/*/; do
  dir="${dir%/}"
  name="$(basename "$dir")"
  [[ -f "$dir/app.py" ]] || continue
  wasm="$out/leitstand_${name}_py.wasm"
  if [[ -f "$wasm" && "$wasm" -nt "$wit/plugin.wit" && "$wasm" -nt "$stamp" ]] &&
     [[ -z "$(find "$dir" -name '*.py' -newer "$wasm" -print -quit)" ]]; then
    continue
  fi
  echo "build.sh: componentize-py $name -> ${wasm#"$root"/}"
  # componentize-py generates the bindings (wit_world, componentize_py_types) into the
  # directory it runs in; a scratch directory keeps them out of the source tree.
  work="$(mktemp -d)"
  (cd "$work" && "$venv/bin/componentize-py" -q -d "$wit" -w plugin componentize \
      -p "$dir" -p "$deps" app -o "$wasm.tmp")
  rm -rf "$work"
  work=""
  mv "$wasm.tmp" "$wasm"
done
