#!/usr/bin/env python3
"""Makes fuzz/corpus/elf/ (fuzz/fuzz_elf.c's corpus) from the installed interpreters.

A whole libpython is 6-31 MB, of which detection reads a few kilobytes, so each
interpreter's runtime file is rewritten into a small ELF file made of the real
one's parts:

  - its ELF header and every section header (those not kept become SHT_NOBITS,
    so indexes and names stay as they were), and its section-name table;
  - .symtab and .dynsym cut down to the symbols detection looks up plus every
    Nth other one, with their string tables rebuilt;
  - .rodata cut down to the strings that end in a version number ("3.11.7",
    "/tmp/python-build.../Python-3.10.13") and some others;
  - as PT_LOAD segments at their real addresses, the bytes of Py_Version and
    the first 4 KiB of _PyRuntime (3.13's _Py_DebugOffsets, and a data section
    for the scan to walk), and an empty segment at the lowest address the
    real file loads at, so that symbols relocate as in the real file.

Section headers come right after the program headers, so a truncated file
keeps them and loses section contents. For each interpreter the corpus holds
that file, a stripped one (no _PyRuntime or interp_head: the data scan runs),
two truncations and four mutations (a symbol table larger than the file, a
name offset past its string table, section headers past the end, a .rodata
whose last string has no NUL).

    python3 tools/elf_corpus.py [OUT_DIR]     # default fuzz/corpus/elf
"""
import os
import re
import struct
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "e2e"))
from conftest import INTERPRETERS  # noqa: E402  the interpreters the tests know

WANTED = {b"_PyRuntime", b"interp_head", b"Py_Version", b"_PyThreadState_Current",
          b"PyCode_Type", b"PyFrame_Type"}
RUNTIME = {b"_PyRuntime", b"interp_head"}
OTHER_SYMBOLS = 120
OTHER_STRINGS = 150
RUNTIME_BYTES = 4096
SHT_SYMTAB, SHT_STRTAB, SHT_NOBITS, SHT_DYNSYM = 2, 3, 8, 11
PT_LOAD = 1
EHDR = struct.Struct("<16sHHIQQQIHHHHHH")
PHDR = struct.Struct("<IIQQQQQQ")
SHDR = struct.Struct("<IIQQQQIIQQ")
SYM = struct.Struct("<IBBHQQ")
VERSION_END = re.compile(rb"(?<![\d.])\d\.\d+\.\d+[A-Za-z0-9+]*$")


def runtime_file(path):
    """The file holding the interpreter's runtime: libpython if mapped, else the executable."""
    out = subprocess.check_output([path, "-c", (
        "import os, sys; sys.stdout.write(open('/proc/self/maps').read()"
        " + 'EXE ' + os.path.realpath(sys.executable))")]).decode()
    for line in out.splitlines():
        name = line.split()[-1] if line.split() else ""
        if "/libpython" in name and ".so" in name:
            return name
    return out.rsplit("EXE ", 1)[1].strip()


class Elf(object):
    def __init__(self, data):
        self.data = data
        self.eh = list(EHDR.unpack_from(data, 0))
        phoff, shoff, phnum, shnum, shstrndx = self.eh[5], self.eh[6], self.eh[10], self.eh[12], self.eh[13]
        self.ph = [PHDR.unpack_from(data, phoff + i * PHDR.size) for i in range(phnum)]
        self.sh = [list(SHDR.unpack_from(data, shoff + i * SHDR.size)) for i in range(shnum)]
        self.shstrndx = shstrndx

    def body(self, i):
        sh = self.sh[i]
        return self.data[sh[4]:sh[4] + sh[5]]

    def name(self, i):
        names = self.body(self.shstrndx)
        return names[self.sh[i][0]:names.index(b"\0", self.sh[i][0])]

    def symbols(self, i):
        """[(name, Elf64_Sym fields)] of symbol table section i."""
        table, strings = self.body(i), self.body(self.sh[i][6])
        out = []
        for k in range(len(table) // SYM.size):
            sym = SYM.unpack_from(table, k * SYM.size)
            out.append((strings[sym[0]:strings.index(b"\0", sym[0])], sym))
        return out

    def file_bytes(self, addr, length):
        """The file's bytes loaded at addr (zeros where a segment has none), and its flags."""
        for ph in self.ph:
            if ph[0] == PT_LOAD and ph[3] <= addr < ph[3] + ph[6]:
                at = addr - ph[3]
                got = self.data[ph[2] + at:ph[2] + min(ph[5], at + length)] if at < ph[5] else b""
                return got + b"\0" * (length - len(got)), ph[1]
        return None, 0


def cut_symbols(elf, i, drop):
    """A symbol table and its string table holding the wanted symbols and some others."""
    syms = elf.symbols(i)
    step = max(1, len(syms) // OTHER_SYMBOLS)
    table, strings = [], [b"\0"]
    for k, (name, sym) in enumerate(syms):
        if name in drop or not (k == 0 or name in WANTED or k % step == 0):
            continue
        at = sum(len(s) for s in strings) if name else 0
        if name:
            strings.append(name + b"\0")
        table.append(SYM.pack(at, *sym[1:]))
    return b"".join(table), b"".join(strings)


def cut_rodata(body):
    """Some strings of .rodata, then those that end in a version (last, so a
    .rodata cut one byte short ends in a version with no NUL)."""
    versions, others = [], []
    for s in body.split(b"\0"):
        if VERSION_END.search(s[-40:]):
            versions.append(s)
        elif 0 < len(s) < 40 and len(others) < OTHER_STRINGS:
            others.append(s)
    return b"\0" + b"\0".join(others + versions) + b"\0"


def windows(elf):
    """PT_LOAD segments for Py_Version and the start of _PyRuntime: (vaddr, flags, bytes)."""
    found = {}
    for i, sh in enumerate(elf.sh):
        if sh[1] in (SHT_SYMTAB, SHT_DYNSYM):
            for name, sym in elf.symbols(i):
                if name in (b"Py_Version", b"_PyRuntime", b"interp_head") and sym[3]:
                    found[name] = sym
    out = []
    for name, sym in sorted(found.items()):
        length = 8 if name != b"_PyRuntime" else min(max(sym[5], 8), RUNTIME_BYTES)
        data, flags = elf.file_bytes(sym[4], length)
        if data is not None:
            out.append((sym[4], flags, data))
    return out


def small_elf(elf, drop=()):
    """The small file: [ELF header][program headers][section headers][contents].
    Returns (bytes, {section name: (offset, size)} of the contents written)."""
    segs = windows(elf)
    lowest = min(ph[3] for ph in elf.ph if ph[0] == PT_LOAD)
    phdrs = [(PT_LOAD, 4, 0, lowest, lowest, 0, 0, 0x1000)]
    blobs = []
    for vaddr, flags, data in segs:
        blobs.append(("segment", data))
        phdrs.append((PT_LOAD, flags, None, vaddr, vaddr, len(data), len(data), 0x1000))
    sections = [list(sh) for sh in elf.sh]
    keep = {}
    for i, sh in enumerate(elf.sh):
        name = elf.name(i)
        if sh[1] in (SHT_SYMTAB, SHT_DYNSYM):
            table, strings = cut_symbols(elf, i, drop)
            keep[i], keep[sh[6]] = table, strings
        elif name == b".rodata":
            keep[i] = cut_rodata(elf.body(i))
    keep[elf.shstrndx] = elf.body(elf.shstrndx)
    for i, sh in enumerate(sections):
        if i not in keep and sh[1] != 0:
            sh[1], sh[4] = SHT_NOBITS, 0
    start = EHDR.size + PHDR.size * len(phdrs) + SHDR.size * len(sections)
    out, offsets = bytearray(), {}
    at = start
    for k, (kind, data) in enumerate(blobs):
        phdrs[k + 1] = phdrs[k + 1][:2] + (at,) + phdrs[k + 1][3:]
        out += data
        at += len(data)
    for i in sorted(keep):
        sections[i][4], sections[i][5] = at, len(keep[i])
        offsets[elf.name(i)] = (at, len(keep[i]))
        out += keep[i]
        at += len(keep[i])
    eh = list(elf.eh)
    eh[5], eh[6], eh[10], eh[12] = EHDR.size, EHDR.size + PHDR.size * len(phdrs), len(phdrs), len(sections)
    head = EHDR.pack(*eh) + b"".join(PHDR.pack(*p) for p in phdrs) + \
        b"".join(SHDR.pack(*s) for s in sections)
    return head + bytes(out), offsets, eh


def section_header_at(eh, data, name_offset, wanted):
    """The offset of the section header whose contents start at name_offset."""
    for i in range(eh[12]):
        at = eh[6] + i * SHDR.size
        if SHDR.unpack_from(data, at)[4] == name_offset:
            return at
    raise KeyError(wanted)


def variants(tag, elf):
    """(file name, bytes) of the corpus entries for one interpreter."""
    base, offsets, eh = small_elf(elf)
    stripped = small_elf(elf, drop=RUNTIME)[0]
    yield "%s.elf" % tag, base
    yield "%s-stripped.elf" % tag, stripped
    symtab = offsets.get(b".symtab", offsets.get(b".dynsym"))
    yield "%s-cut-symbols.elf" % tag, base[:symtab[0] + symtab[1] // 2]
    yield "%s-cut-headers.elf" % tag, base[:eh[6] + 3 * SHDR.size // 2]
    # A symbol table that claims more bytes than the file holds.
    huge = bytearray(base)
    at = section_header_at(eh, base, symtab[0], "symbols")
    struct.pack_into("<Q", huge, at + 32, (1 << 47) - 1)
    yield "%s-huge-table.elf" % tag, bytes(huge)
    # Every symbol's name offset past its string table.
    names = bytearray(base)
    for k in range(1, symtab[1] // SYM.size):
        struct.pack_into("<I", names, symtab[0] + k * SYM.size, 0xfffffff0)
    yield "%s-bad-names.elf" % tag, bytes(names)
    # Section headers past the end of the file.
    gone = bytearray(base)
    struct.pack_into("<Q", gone, 40, len(base) + 4096)
    yield "%s-headers-gone.elf" % tag, bytes(gone)
    # .rodata ending in a version string with no NUL after it.
    rodata = offsets.get(b".rodata")
    if rodata:
        cut = bytearray(base)
        at = section_header_at(eh, base, rodata[0], "rodata")
        struct.pack_into("<Q", cut, at + 32, rodata[1] - 1)
        yield "%s-rodata-unterminated.elf" % tag, bytes(cut)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "fuzz", "corpus", "elf")
    os.makedirs(out_dir, exist_ok=True)
    for ident, path, _ in INTERPRETERS:
        if not os.access(path, os.X_OK):
            print("skipping %s: not installed" % ident)
            continue
        with open(runtime_file(path), "rb") as f:
            elf = Elf(f.read())
        for name, data in variants(ident, elf):
            with open(os.path.join(out_dir, name), "wb") as f:
                f.write(data)
        print("%s: %d bytes" % (ident, len(small_elf(elf)[0])))


if __name__ == "__main__":
    main()
