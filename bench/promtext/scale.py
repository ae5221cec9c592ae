#!/usr/bin/env python3
"""Scale a text-format exposition to at least TARGET bytes, realistically: every family keeps its
HELP/TYPE once and gets its series repeated with an extra `replica` label (as a big exporter with
many instances of each series looks), so families stay contiguous and grow long.

usage: scale.py INPUT OUTPUT TARGET_BYTES
"""
import re
import sys

source, target_path, target_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3])
blocks = []  # (metadata lines, sample lines) per family
with open(source, encoding="utf-8") as f:
    for line in f:
        if line.startswith("#"):
            if not blocks or blocks[-1][1]:
                blocks.append(([], []))
            blocks[-1][0].append(line)
        elif line.strip():
            if not blocks:
                blocks.append(([], []))
            blocks[-1][1].append(line)

sample_bytes = sum(len(l) for _, samples in blocks for l in samples)
copies = max(1, -(-target_bytes // max(1, sample_bytes)))
label_re = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{)?")
with open(target_path, "w", encoding="utf-8") as out:
    for metadata, samples in blocks:
        out.writelines(metadata)
        for replica in range(copies):
            for line in samples:
                m = label_re.match(line)
                name = m.group(1)
                if m.group(2):
                    out.write(f'{name}{{replica="r{replica}",{line[m.end():]}')
                else:
                    out.write(f'{name}{{replica="r{replica}"}}{line[m.end():]}')
