#!/usr/bin/env python3
"""Write a gzip'd "newc" cpio archive (a Linux initramfs) from a spec file.

No root needed: ownership and device nodes come from the spec, not from the
file system. The spec uses the kernel's usr/gen_init_cpio format, one entry
a line ('#' starts a comment):

    dir   <name> <mode> <uid> <gid>
    file  <name> <source path> <mode> <uid> <gid>
    slink <name> <target> <mode> <uid> <gid>
    nod   <name> <mode> <uid> <gid> <c|b> <major> <minor>

<mode> is octal permission bits (e.g. 0755); names are absolute paths inside
the archive. The output is byte-for-byte reproducible: every mtime is 0 (or
$SOURCE_DATE_EPOCH) and the gzip header carries no name or time.

Usage: mkcpio.py SPEC OUT.cpio.gz      (SPEC may be '-' for stdin)
"""

import gzip
import os
import stat
import sys

MTIME = int(os.environ.get("SOURCE_DATE_EPOCH", "0"))


class NewcWriter:
    def __init__(self, out):
        self.out = out
        self.ino = 1
        self.offset = 0

    def _write(self, data):
        self.out.write(data)
        self.offset += len(data)

    def _pad(self):
        self._write(b"\0" * (-self.offset % 4))

    def entry(self, name, mode, uid=0, gid=0, data=b"", rdev=(0, 0), nlink=1):
        name_bytes = name.encode() + b"\0"
        fields = [
            self.ino, mode, uid, gid, nlink, MTIME, len(data),
            0, 0,              # dev major/minor of the file system: unused
            rdev[0], rdev[1],  # device number for character/block nodes
            len(name_bytes), 0,  # name size (with NUL), checksum (unused)
        ]
        self.ino += 1
        self._write(b"070701" + b"".join(b"%08X" % f for f in fields))
        self._write(name_bytes)
        self._pad()
        self._write(data)
        self._pad()

    def trailer(self):
        self.ino = 0
        self.entry("TRAILER!!!", 0, nlink=1)
        # The kernel wants no particular alignment, but 512-byte blocks is
        # what cpio(1) writes and what some tools expect.
        self._write(b"\0" * (-self.offset % 512))


def parse_mode(text):
    return int(text, 8) & 0o7777


def build(spec_lines, out):
    w = NewcWriter(out)
    seen = set()
    for lineno, raw in enumerate(spec_lines, 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        f = line.split()
        kind, name = f[0], f[1].lstrip("/")
        if not name:
            raise SystemExit(f"mkcpio: spec line {lineno}: empty name")
        if name in seen:
            raise SystemExit(f"mkcpio: spec line {lineno}: duplicate entry /{name}")
        seen.add(name)
        try:
            if kind == "dir":
                w.entry(name, stat.S_IFDIR | parse_mode(f[2]), int(f[3]), int(f[4]), nlink=2)
            elif kind == "file":
                with open(f[2], "rb") as src:
                    data = src.read()
                w.entry(name, stat.S_IFREG | parse_mode(f[3]), int(f[4]), int(f[5]), data)
            elif kind == "slink":
                w.entry(name, stat.S_IFLNK | parse_mode(f[3]), int(f[4]), int(f[5]), f[2].encode())
            elif kind == "nod":
                ftype = {"c": stat.S_IFCHR, "b": stat.S_IFBLK}[f[5]]
                w.entry(name, ftype | parse_mode(f[2]), int(f[3]), int(f[4]),
                        rdev=(int(f[6]), int(f[7])))
            else:
                raise SystemExit(f"mkcpio: spec line {lineno}: unknown entry type '{kind}'")
        except (IndexError, ValueError, KeyError):
            raise SystemExit(f"mkcpio: spec line {lineno}: malformed: {line}")
        except OSError as e:
            raise SystemExit(f"mkcpio: spec line {lineno}: {e}")
    w.trailer()


def main(argv):
    if len(argv) != 3:
        raise SystemExit("usage: mkcpio.py SPEC OUT.cpio.gz")
    spec_path, out_path = argv[1], argv[2]
    lines = sys.stdin.readlines() if spec_path == "-" else open(spec_path).readlines()
    tmp = out_path + ".tmp"
    with open(tmp, "wb") as raw:
        with gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=9, mtime=0) as gz:
            build(lines, gz)
    os.replace(tmp, out_path)


if __name__ == "__main__":
    main(sys.argv)
