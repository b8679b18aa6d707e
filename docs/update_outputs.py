"""Refresh the examples in the documentation from the real tools.

The Markdown files (docs/language.md, README.md) contain two kinds of markers, each
followed by a fenced code block:

    <!-- include: docs/examples/autoreg.sched -->
    ```text
    (replaced by the file's contents)
    ```

    <!-- run: vidsched compile docs/examples/autoreg.sched --explain -->
    ```console
    (replaced by "$ COMMAND" and what it prints, stdout and stderr together)
    ```

Commands run with bash from the repository root. A command whose exit status is not 0
gets a last line "[exit status N]". Run it after changing the language or the examples:

    python docs/update_outputs.py            # rewrite the files in place
    python docs/update_outputs.py --check    # exit 1 if any block is out of date
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FILES = ["docs/language.md", "README.md"]
MARKER = re.compile(r"^<!-- (run|include): (.*?) -->\n```([a-z]*)\n.*?^```\n", re.M | re.S)


def _run(command: str) -> str:
    proc = subprocess.run(
        ["bash", "-c", command],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=300,
    )
    out = proc.stdout.rstrip("\n")
    text = f"$ {command}\n{out}\n" if out else f"$ {command}\n"
    if proc.returncode != 0:
        text += f"[exit status {proc.returncode}]\n"
    return text


def _replace(match: re.Match) -> str:
    kind, arg, lang = match.group(1), match.group(2), match.group(3)
    if kind == "include":
        body = (ROOT / arg).read_text(encoding="utf-8")
        if not body.endswith("\n"):
            body += "\n"
    else:
        body = _run(arg)
    return f"<!-- {kind}: {arg} -->\n```{lang}\n{body}```\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only report files that are out of date")
    parser.add_argument("files", nargs="*", default=FILES)
    args = parser.parse_args()
    stale = []
    for name in args.files:
        path = ROOT / name
        text = path.read_text(encoding="utf-8")
        new = MARKER.sub(_replace, text)
        if new != text:
            stale.append(name)
            if not args.check:
                path.write_text(new, encoding="utf-8")
    for name in stale:
        print(f"{'out of date' if args.check else 'updated'}: {name}")
    return 1 if (args.check and stale) else 0


if __name__ == "__main__":
    sys.exit(main())
