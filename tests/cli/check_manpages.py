"""Every tool's --help and its man page agree: the synopsis is the same,
and every option in one is in the other. Usage: check_manpages.py BUILD ROOT"""

import os
import re
import subprocess
import sys

build, root = sys.argv[1], sys.argv[2]
tools = sorted(f for f in os.listdir(os.path.join(build, "tools"))
               if f.startswith("memtrace-") and os.access(os.path.join(build, "tools", f), os.X_OK))


def plain(roff):
    return re.sub(r"\\f[BIRP]", "", roff).replace("\\-", "-").strip()


failures = 0
failed_tools = set()
for t in tools:
    before = failures
    page = os.path.join(root, "man", "man1", t + ".1")
    if not os.path.exists(page):
        print(f"FAIL {t}: no man page at man/man1/{t}.1")
        failures += 1
        failed_tools.add(t)
        continue
    text = open(page).read()
    synopsis = plain(text.split(".SH SYNOPSIS\n", 1)[1].split(".SH", 1)[0])
    help_text = subprocess.run([os.path.join(build, "tools", t), "--help"], capture_output=True, text=True,
                               check=True).stdout
    usage = help_text.splitlines()[0].removeprefix("usage: ")
    if synopsis != usage:
        print(f"FAIL {t}: man synopsis {synopsis!r} differs from --help {usage!r}")
        failures += 1
    opts_section = plain(text.split(".SH OPTIONS\n", 1)[1].split(".SH", 1)[0])
    in_man = set(re.findall(r"(?m)^(?:-\w, )?(--[a-z-]+)", opts_section))
    in_help = set(re.findall(r"(?m)^  (?:-\w, |    )(--[a-z-]+)", help_text))
    for o in sorted(in_help - in_man):
        print(f"FAIL {t}: {o} is in --help but not in the man page")
        failures += 1
    for o in sorted(in_man - in_help):
        print(f"FAIL {t}: {o} is in the man page but not in --help")
        failures += 1
    # Short forms must agree too.
    for short, long_ in re.findall(r"(?m)^  -(\w), (--[a-z-]+)", help_text):
        if not re.search(rf"(?m)^-{short}, {long_}", opts_section):
            print(f"FAIL {t}: -{short}, {long_} is in --help but the man page does not pair them")
            failures += 1
    if failures > before:
        failed_tools.add(t)
print(f"manpages: {len(tools) - len(failed_tools)} passed, {len(failed_tools)} failed")
sys.exit(1 if failures else 0)
