"""Print the N-th shell command of README.md's "Set-up" section (1: install and run, 2: tests).

CI runs the README's own text, so the README and CI cannot drift apart.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

readme = Path(__file__).resolve().parent.parent / "README.md"
text = readme.read_text(encoding="utf-8")
section = re.search(r"^## Set-up\n(.*?)(?=^## )", text, re.S | re.M)
if section is None:
    sys.exit("README.md has no '## Set-up' section")
blocks = re.findall(r"^```bash\n(.*?)^```", section.group(1), re.S | re.M)
index = int(sys.argv[1]) - 1
if not 0 <= index < len(blocks):
    sys.exit(f"README.md's Set-up section has {len(blocks)} bash blocks, not {index + 1}")
print(blocks[index].strip())
