#!/usr/bin/env python3
"""Checks the examples a Markdown page shows against what kiln prints today.

A code block preceded by a line `<!-- checked: kiln ARGS... -->` must appear in the output of
`kiln ARGS...` (the `// ---- <stage> of <op> ----` headers left out): the block's lines, split
at lines that are `...` (indentation allowed), are runs of consecutive output lines, in order.
Numbered names (`%12`, `%zmm3`, `%r11`, `!4`) compare with their numbers left out, so another
register allocation or value numbering by LLVM does not make an example out of date.
Usage: check_doc_examples.py KILN_BINARY PAGE.md
"""
import re
import shlex
import subprocess
import sys

MARKER = re.compile(r"^<!-- checked: kiln (.*) -->$")
NUMBERED = re.compile(r"([%!][A-Za-z_.]*)\d+")


def normalized(line):
    return NUMBERED.sub(r"\1#", line.rstrip())


def examples(page):
    """(line number, kiln arguments, block lines) for every checked block."""
    lines = open(page, encoding="utf-8").read().split("\n")
    for n, line in enumerate(lines):
        m = MARKER.match(line)
        if not m:
            continue
        if n + 1 >= len(lines) or lines[n + 1] != "```":
            sys.exit(f"{page}:{n + 1}: a checked marker must be followed by a ``` block")
        end = lines.index("```", n + 2)
        yield n + 1, shlex.split(m.group(1)), lines[n + 2:end]


def runs(block):
    """The block split at `...` lines into runs of lines to find in order."""
    out = [[]]
    for line in block:
        if line.strip() == "...":
            out.append([])
        else:
            out[-1].append(normalized(line))
    return [r for r in out if r]


def find_in_order(output, parts):
    """The first run not found, in order, as consecutive lines of output; None if all are."""
    at = 0
    for run in parts:
        for start in range(at, len(output) - len(run) + 1):
            if output[start:start + len(run)] == run:
                at = start + len(run)
                break
        else:
            return run
    return None


def main():
    kiln, page = sys.argv[1], sys.argv[2]
    checked = failed = 0
    for line, args, block in examples(page):
        result = subprocess.run([kiln] + args, capture_output=True, text=True)
        if result.returncode != 0:
            print(f"{page}:{line}: kiln {' '.join(args)} failed: {result.stderr.strip()}")
            failed += 1
            continue
        output = [normalized(l) for l in result.stdout.split("\n") if not l.startswith("// ---- ")]
        missing = find_in_order(output, runs(block))
        checked += 1
        if missing is not None:
            failed += 1
            print(f"{page}:{line}: `kiln {' '.join(args)}` no longer prints, in this order:")
            print("\n".join("    " + l for l in missing))
    print(f"{checked} examples checked, {failed} out of date")
    if checked == 0:
        sys.exit(f"{page}: no checked examples found")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
