#!/usr/bin/env bash
# Checks the lock annotations (api/larder/mutex.h: LARDER_GUARDED_BY and friends) with clang's
# thread-safety analysis: every source file of the engine, wire/, api/ and tools/ is
# compiled with clang++ -fsyntax-only -Wthread-safety -Werror, using the flags of the build in
# BUILD_DIR (default build/, made by scripts/build.sh). GCC ignores the annotations, so this is
# the check that they hold. Exits 1 on the first violation.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${1:-build}"
if ! command -v clang++ >/dev/null; then
  echo "thread_safety: clang++ is not installed (bash scripts/install-deps.sh installs it)" >&2
  exit 1
fi
if [ ! -f "$build_dir/compile_commands.json" ]; then
  echo "thread_safety: $build_dir/compile_commands.json is missing: run scripts/build.sh first" >&2
  exit 1
fi
python3 - "$build_dir/compile_commands.json" "$PWD" <<'PY' | xargs -0 -n 1 -P "$(nproc)" bash -c
import json, shlex, sys
root = sys.argv[2]
for e in json.load(open(sys.argv[1])):
    f = e["file"]
    rel = f[len(root) + 1:] if f.startswith(root + "/") else f
    if not rel.endswith(".cc") or not rel.split("/")[0] in ("engine", "wire", "api", "tools", "layout"):
        continue
    args = shlex.split(e["command"]) if "command" in e else e["arguments"]
    args = [a for a in args if not a.endswith("ccache")]
    keep = []
    skip = False
    for a in args[1:]:
        if skip:
            skip = False
            continue
        if a in ("-o", "-c"):
            skip = a == "-o"
            continue
        if a == f or a.endswith(".cc"):
            continue
        keep.append(a)
    cmd = ["clang++"] + keep + ["-fsyntax-only", "-Wno-unknown-warning-option",
           "-Wthread-safety", "-Werror=thread-safety", f]
    sys.stdout.write("cd " + shlex.quote(e["directory"]) + " && " +
                     " ".join(shlex.quote(c) for c in cmd) + " || exit 255\0")
PY
echo "thread_safety: every lock annotation holds" >&2
