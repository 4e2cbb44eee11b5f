#!/usr/bin/env python3
"""The project's own rules, checked in a second (ops/test.sh runs it before building).

- Layering: engine/, events/ and projections/ include no librdkafka, RocksDB, Asio, Beast,
  OpenSSL or argon2 header (those live in adapters/<technology>/).
- Layout: the top level holds exactly the agreed entries, and each top-level folder has a
  README.md.
- Size: no production source file over 800 lines, and no production function over 150 lines
  unless it is a flat dispatch (a switch with one case per line or two) named in
  ops/lint-flat-switches.txt.

Usage: ops/lint.py [--report]   (--report prints the longest files and functions and exits 0)
Exit codes: 0 clean, 1 a rule is broken (each finding on its own line).
"""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TOP_LEVEL = {"CMakeLists.txt", "engine", "events", "projections", "adapters", "tests", "ops",
             "README.md", "ARCHITECTURE.md"}
READMES = ["engine", "events", "projections", "adapters", "tests", "ops"]
DOMAIN = ["engine", "events", "projections"]
FORBIDDEN_INCLUDE = re.compile(
    r'#\s*include\s*[<"](librdkafka/|rocksdb/|boost/asio|boost/beast|openssl/|argon2)')
PRODUCTION = ["engine", "events", "projections", "adapters"]
MAX_FILE_LINES = 800
MAX_FUNCTION_LINES = 150


def tracked_files():
    out = subprocess.run(["git", "ls-files"], cwd=ROOT, capture_output=True, text=True)
    if out.returncode != 0:  # not a checkout: every file under the root
        return [p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*") if p.is_file()]
    return [line for line in out.stdout.splitlines() if (ROOT / line).exists()]


def strip_code(text):
    """The text with comments, string and character literals blanked (newlines kept)."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith('R"', i):
            m = re.match(r'R"([^(\s]*)\(', text[i:])
            if not m:
                out.append(c)
                i += 1
                continue
            end = ")" + m.group(1) + '"'
            j = text.find(end, i + m.end())
            j = n if j < 0 else j + len(end)
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j = min(j + 1, n)
            out.append(" " * (j - i))
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def functions(text):
    """(name, first line, line count) of each function body at namespace or class scope."""
    code = strip_code(text)
    found = []
    stack = []  # one entry per open brace: "scope" (namespace/class/enum/init) or "function"
    last_boundary = 0
    for i, c in enumerate(code):
        if c == "{":
            head = code[last_boundary:i]
            in_function = any(kind == "function" for kind, _ in stack)
            if in_function:
                stack.append(("block", i))
            elif re.search(r"\b(namespace|class|struct|union|enum)\b[^()]*$", head) or "(" not in head:
                stack.append(("scope", i))
            else:
                stack.append(("function", i))
            last_boundary = i + 1
        elif c == "}":
            if stack:
                kind, start = stack.pop()
                if kind == "function":
                    head = code[:start]
                    name_match = re.search(r"([A-Za-z_][\w:~]*)\s*\([^()]*(\([^()]*\)[^()]*)*\)[^()]*$",
                                           head[-2000:])
                    name = name_match.group(1) if name_match else "?"
                    first = code.count("\n", 0, start) + 1
                    last = code.count("\n", 0, i) + 1
                    found.append((name, first, last - first + 1))
            last_boundary = i + 1
        elif c == ";":
            last_boundary = i + 1
    return found


def main():
    report = "--report" in sys.argv[1:]
    findings = []
    files = tracked_files()

    for entry in sorted({f.split("/")[0] for f in files}):
        if not entry.startswith(".") and entry not in TOP_LEVEL:
            findings.append(f"layout: top-level entry {entry} is not in the agreed layout")
    for folder in READMES:
        if not (ROOT / folder / "README.md").exists():
            findings.append(f"layout: {folder}/ has no README.md")

    flat_path = ROOT / "ops" / "lint-flat-switches.txt"
    flat = set()
    if flat_path.exists():
        for line in flat_path.read_text().splitlines():
            line = line.split("#")[0].strip()
            if line:
                flat.add(line)

    sizes, long_functions = [], []
    for f in files:
        if not f.endswith((".h", ".cc")) or "/generated/" in f:
            continue
        text = (ROOT / f).read_text(errors="replace")
        if f.split("/")[0] in DOMAIN:
            for number, line in enumerate(text.splitlines(), 1):
                if FORBIDDEN_INCLUDE.search(line):
                    findings.append(f"layering: {f}:{number} includes an adapter's header: {line.strip()}")
        if f.split("/")[0] not in PRODUCTION:
            continue
        lines = text.count("\n")
        sizes.append((lines, f))
        if lines > MAX_FILE_LINES:
            findings.append(f"size: {f} has {lines} lines (at most {MAX_FILE_LINES})")
        for name, first, count in functions(text):
            long_functions.append((count, f"{f}:{first} {name}"))
            if count > MAX_FUNCTION_LINES and f"{f} {name}" not in flat:
                findings.append(f"size: {f}:{first} {name} is {count} lines (at most "
                                f"{MAX_FUNCTION_LINES}; a flat switch belongs in ops/lint-flat-switches.txt)")

    if report:
        print("longest production files:")
        for lines, f in sorted(sizes, reverse=True)[:10]:
            print(f"  {lines:5d} {f}")
        print("longest production functions:")
        for count, where in sorted(long_functions, reverse=True)[:15]:
            print(f"  {count:5d} {where}")
    for finding in findings:
        print(finding)
    if findings and not report:
        print(f"lint: {len(findings)} finding(s)")
        return 1
    if not findings:
        print("lint: layering, layout and size rules hold")
    return 0


if __name__ == "__main__":
    sys.exit(main())
