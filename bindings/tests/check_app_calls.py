"""Every bindings call the apps make exists in the freshly generated bindings, with the
same parameters, so the apps cannot drift from the core.

    python3 check_app_calls.py <generated bindings dir> <android dir> <ios dir>

Calls are found by the apps' convention: the FieldPhone is always `phone`, a running
sync is `handle` (or `started`/`job`), and constructors are `FieldPhone.open…(`.
Kotlin: the method exists and the argument count (and any named argument) matches.
Swift: the method exists and the argument labels match, in order.
`--self-test` checks that the checker does catch a wrong call.
"""

import os
import re
import sys
import tempfile

RECEIVERS = r"(?:phone|handle|started|job|FieldPhone)"


def generated_api(out):
    """{method: [parameter names]} from the generated Kotlin and Swift."""
    kotlin = open(os.path.join(out, "kotlin/uniffi/fieldloop_ffi/fieldloop_ffi.kt"), encoding="utf-8").read()
    kt = {}
    for name, params in re.findall(r"fun `(\w+)`\(([^)]*)\)", kotlin):
        kt[name] = [p.split(":")[0].strip(" `") for p in params.split(",") if p.strip()]
    swift = open(os.path.join(out, "swift/fieldloop_ffi.swift"), encoding="utf-8").read()
    sw = {}
    for name, params in re.findall(r"(?:open|public static) func `?(\w+)`?\(([^)]*)\)", swift):
        sw[name] = [p.split(":")[0].strip() for p in params.split(",") if p.strip()]
    return kt, sw


def split_args(text, start):
    """Top-level arguments of the call whose '(' is at text[start-1]; None if unclosed."""
    depth, args, current, i, quote = 0, [], "", start, None
    while i < len(text):
        c = text[i]
        if quote:
            current += c
            if c == "\\":
                current += text[i + 1]
                i += 1
            elif c == quote:
                quote = None
        elif c in "\"'":
            quote = c
            current += c
        elif c in "([{":
            depth += 1
            current += c
        elif c in ")]}":
            if depth == 0:
                if current.strip():
                    args.append(current.strip())
                return args
            depth -= 1
            current += c
        elif c == "," and depth == 0:
            args.append(current.strip())
            current = ""
        else:
            current += c
        i += 1
    return None


def calls(root, suffix):
    for dirpath, _, files in os.walk(root):
        if "build" in dirpath.split(os.sep) or "generated" in dirpath:
            continue
        for f in files:
            if f.endswith(suffix):
                path = os.path.join(dirpath, f)
                text = open(path, encoding="utf-8").read()
                for m in re.finditer(RECEIVERS + r"[?!]?\.(\w+)\(", text):
                    yield path, text.count("\n", 0, m.start()) + 1, m.group(1), split_args(text, m.end())


def check(out, android, ios):
    kt, sw = generated_api(out)
    problems, seen = [], {"kt": 0, "swift": 0}
    for path, line, name, args in calls(android, ".kt"):
        seen["kt"] += 1
        where = f"{path}:{line}: {name}"
        if name not in kt:
            problems.append(f"{where}: no such method in the Kotlin bindings")
            continue
        params = kt[name]
        if args is None or len(args) != len(params):
            problems.append(f"{where}: {0 if args is None else len(args)} arguments, the bindings take {params}")
            continue
        for a in args:
            named = re.match(r"^(\w+)\s*=(?!=)", a)
            if named and named.group(1) not in params:
                problems.append(f"{where}: no parameter {named.group(1)} (has {params})")
    for path, line, name, args in calls(ios, ".swift"):
        seen["swift"] += 1
        where = f"{path}:{line}: {name}"
        if name not in sw:
            problems.append(f"{where}: no such method in the Swift bindings")
            continue
        labels = [re.match(r"^(\w+)\s*:", a).group(1) if re.match(r"^(\w+)\s*:", a) else "_" for a in (args or [])]
        if labels != sw[name]:
            problems.append(f"{where}: labels {labels}, the bindings take {sw[name]}")
    return problems, seen


def main(argv):
    if argv[1:2] == ["--self-test"]:
        out = argv[2]
        with tempfile.TemporaryDirectory() as tmp:
            os.makedirs(os.path.join(tmp, "a"))
            os.makedirs(os.path.join(tmp, "i"))
            open(os.path.join(tmp, "a", "Bad.kt"), "w").write("phone.captureCase(a, b)\nphone.noSuchCall()\n")
            open(os.path.join(tmp, "i", "Bad.swift"), "w").write("try phone.login(user: u, password: p)\n")
            problems, _ = check(out, os.path.join(tmp, "a"), os.path.join(tmp, "i"))
        assert len(problems) == 3, problems
        print("ok   app-call check catches wrong calls")
        return 0
    out, android, ios = argv[1:4]
    problems, seen = check(out, android, ios)
    for p in problems:
        print(p)
    if seen["kt"] < 10 or seen["swift"] < 10:
        print(f"too few bindings calls found (Kotlin {seen['kt']}, Swift {seen['swift']}): is the convention kept?")
        return 1
    if problems:
        return 1
    print(f"ok   app sources call the generated bindings as generated ({seen['kt']} Kotlin, {seen['swift']} Swift calls)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
