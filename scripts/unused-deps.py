#!/usr/bin/env python3
"""Fails when a crate declares a dependency its sources never name.

Usage: scripts/unused-deps.py [MANIFEST...]   (default: the workspace and firmware-example/)

For every package, `cargo metadata --no-deps` (offline: it reads the manifests only) lists the
declared dependencies with their kind. A dependency counts as used when its crate name (after a
`package = ...` rename, `-` read as `_`) appears in code, comments stripped, as a path
(`name::`), in `use name` or in `extern crate name`:
  - a normal dependency in the sources of the lib/bin targets (src/);
  - a dev-dependency in any source of the package (src/ for #[cfg(test)], tests/, benches/,
    examples/);
  - a build dependency in build.rs or a file it pulls in with #[path = "..."].
What it catches: a dependency left in Cargo.toml after its last use went, and a normal dependency
used only by tests or benches. What it cannot see: a dependency declared only to turn on a feature
of another crate (list it, with the reason in a comment, under
`[package.metadata.unused-deps] ignored = [...]`), and a name that appears in code but would
compile without the dependency (e.g. a local module of the same name).
"""

import json
import os
import re
import subprocess
import sys

COMMENT = re.compile(r"//[^\n]*|/\*.*?\*/", re.S)


def code_of(path):
    with open(path, encoding="utf-8") as f:
        return COMMENT.sub("", f.read())


def rust_files(root, skip_dirs):
    for d, dirs, files in os.walk(root):
        dirs[:] = [
            x
            for x in dirs
            if x not in ("target", ".git")
            and os.path.join(d, x) not in skip_dirs
            # A nested crate (e.g. fuzz/) has its own manifest and is checked on its own.
            and not os.path.exists(os.path.join(d, x, "Cargo.toml"))
        ]
        for f in files:
            if f.endswith(".rs"):
                yield os.path.join(d, f)


def used(name, texts):
    pat = re.compile(
        r"(?<![\w:])%s::|\buse\s+%s\b|\bextern\s+crate\s+%s\b" % ((re.escape(name),) * 3)
    )
    return any(pat.search(t) for t in texts)


def check(manifest):
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--no-deps", "--format-version", "1", "--manifest-path", manifest],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
    )
    members = set(meta["workspace_members"])
    bad = []
    for pkg in meta["packages"]:
        if pkg["id"] not in members:
            continue
        root = os.path.dirname(pkg["manifest_path"])
        ignored = set(((pkg.get("metadata") or {}).get("unused-deps") or {}).get("ignored", []))
        all_files = list(rust_files(root, set()))
        src_files = [
            f for f in all_files if f.startswith(os.path.join(root, "src") + os.sep)
        ]
        build_files = []
        build_rs = os.path.join(root, "build.rs")
        if os.path.exists(build_rs):
            build_files.append(build_rs)
            for rel in re.findall(r'#\[path\s*=\s*"([^"]+)"\]', code_of(build_rs)):
                build_files.append(os.path.normpath(os.path.join(root, rel)))
        texts = {f: code_of(f) for f in set(all_files) | set(build_files)}
        scope = {
            None: [texts[f] for f in src_files],
            "dev": [texts[f] for f in all_files],
            "build": [texts[f] for f in build_files],
        }
        for dep in pkg["dependencies"]:
            if dep.get("path") and os.path.samefile(dep["path"], root):
                continue  # the crate itself as a dev-dependency, to turn on its own features
            crate = (dep.get("rename") or dep["name"]).replace("-", "_")
            if dep["name"] in ignored or crate in ignored:
                continue
            if not used(crate, scope[dep["kind"]]):
                kind = {None: "dependencies", "dev": "dev-dependencies", "build": "build-dependencies"}
                bad.append(f"{pkg['manifest_path']}: [{kind[dep['kind']]}] {dep['name']} is not used")
    return bad


def main():
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    manifests = sys.argv[1:] or [
        os.path.join(here, "Cargo.toml"),
        os.path.join(here, "firmware-example", "Cargo.toml"),
    ]
    bad = [line for m in manifests for line in check(m)]
    for line in bad:
        print(line, file=sys.stderr)
    if bad:
        print(f"unused dependencies: {len(bad)}", file=sys.stderr)
        return 1
    print("no unused dependencies")
    return 0


if __name__ == "__main__":
    sys.exit(main())
