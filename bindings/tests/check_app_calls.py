"""Every bindings call the apps make exists in the freshly generated bindings, with the
same parameters, so the apps cannot drift from the core.

    python3 check_app_calls.py <generated bindings dir> <android dir> <ios dir>

Calls are found by the apps' convention: the FieldPhone is always `phone`, a running
sync is `handle` (or `started`/`job`), and constructors are `FieldPhone.open…(`.
Kotlin: the method exists and the argument count (and any named argument) matches.
Swift: the method exists and the argument labels match, in order.
The other way round, an app class implementing a foreign-implementable interface of the
bindings (KeyVault, …) has each of its methods: Kotlin `override fun` with as many
parameters, Swift `func` with the same argument labels.
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


def generated_interfaces(out):
    """{interface: {method: [parameter names]}} for Kotlin interfaces and Swift protocols
    the apps may implement (their generated bodies hold only method declarations)."""
    kotlin = open(os.path.join(out, "kotlin/uniffi/fieldloop_ffi/fieldloop_ffi.kt"), encoding="utf-8").read()
    swift = open(os.path.join(out, "swift/fieldloop_ffi.swift"), encoding="utf-8").read()
    kt, sw = {}, {}
    for name, body in re.findall(r"public interface (\w+) \{(.*?)\n\}", kotlin, re.S):
        kt[name] = {m: [p.split(":")[0].strip(" `") for p in params.split(",") if p.strip()]
                    for m, params in re.findall(r"fun `(\w+)`\(([^)]*)\)", body)}
    for name, body in re.findall(r"public protocol (\w+)\s*:[^{]*\{(.*?)\n\}", swift, re.S):
        sw[name] = {m: [p.split(":")[0].strip() for p in params.split(",") if p.strip()]
                    for m, params in re.findall(r"func `?(\w+)`?\(([^)]*)\)", body)}
    return kt, sw


def block_after(text, start):
    """The text of the brace block that opens at or after `start` (to its closing brace)."""
    open_at = text.find("{", start)
    if open_at < 0:
        return ""
    depth = 0
    for i in range(open_at, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return text[open_at:i + 1]
    return text[open_at:]


def implementations(root, suffix, interfaces):
    """(path, line, interface, body) of every class or object declared as implementing
    one of `interfaces` (`class X(…) : KeyVault {`, `object : KeyVault {`, `class X: KeyVault {`)."""
    for dirpath, _, files in os.walk(root):
        if "build" in dirpath.split(os.sep) or "generated" in dirpath:
            continue
        for f in files:
            if not f.endswith(suffix):
                continue
            path = os.path.join(dirpath, f)
            text = open(path, encoding="utf-8").read()
            for m in re.finditer(r"\b(?:class|object)\b[^\n{]*?:\s*([\w., ()]*?)\s*\{", text):
                supers = re.sub(r"\([^)]*\)", "", m.group(1))
                for name in re.findall(r"\w+", supers):
                    if name in interfaces:
                        yield path, text.count("\n", 0, m.start()) + 1, name, block_after(text, m.start())


def check_implementations(out, android, ios):
    kt, sw = generated_interfaces(out)
    problems, seen = [], 0
    for path, line, name, body in implementations(android, ".kt", kt):
        seen += 1
        methods = {m: [p for p in params.split(",") if p.strip()]
                   for m, params in re.findall(r"override fun `?(\w+)`?\(([^)]*)\)", body)}
        for method, params in kt[name].items():
            if method not in methods:
                problems.append(f"{path}:{line}: {name} needs override fun {method}({', '.join(params)})")
            elif len(methods[method]) != len(params):
                problems.append(f"{path}:{line}: {name}.{method} takes {params}")
    for path, line, name, body in implementations(ios, ".swift", sw):
        seen += 1
        methods = {}
        for m, params in re.findall(r"func `?(\w+)`?\(([^)]*)\)", body):
            methods[m] = [p.split(":")[0].strip().split()[0] for p in params.split(",") if p.strip()]
        for method, labels in sw[name].items():
            if method not in methods:
                problems.append(f"{path}:{line}: {name} needs func {method}({', '.join(l + ':' for l in labels)})")
            elif methods[method] != labels:
                problems.append(f"{path}:{line}: {name}.{method} labels {methods[method]}, the protocol has {labels}")
    return problems, seen


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
            # A vault whose method lacks the protocol's label, one missing a method.
            open(os.path.join(tmp, "i", "Vault.swift"), "w").write(
                "final class V: KeyVault {\n    func seal(_ secret: Data) throws -> Data { secret }\n"
                "    func unseal(sealed: Data) throws -> Data { sealed }\n}\n")
            open(os.path.join(tmp, "a", "Vault.kt"), "w").write(
                "class V(private val k: () -> Key) : KeyVault {\n"
                "    override fun seal(secret: ByteArray): ByteArray = secret\n}\n")
            wrong, seen = check_implementations(out, os.path.join(tmp, "a"), os.path.join(tmp, "i"))
        assert len(problems) == 3, problems
        assert seen == 2 and len(wrong) == 2, (seen, wrong)
        print("ok   app-call check catches wrong calls and wrong implementations")
        return 0
    out, android, ios = argv[1:4]
    problems, seen = check(out, android, ios)
    wrong, implemented = check_implementations(out, android, ios)
    problems += wrong
    for p in problems:
        print(p)
    if seen["kt"] < 10 or seen["swift"] < 10:
        print(f"too few bindings calls found (Kotlin {seen['kt']}, Swift {seen['swift']}): is the convention kept?")
        return 1
    if problems:
        return 1
    print(f"ok   app sources call the generated bindings as generated ({seen['kt']} Kotlin, {seen['swift']} Swift calls;"
          f" {implemented} implementations of their interfaces)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
