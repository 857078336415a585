#!/usr/bin/env python3
"""gen_layouts.py - generate src/python/layouts.c from CPython's own headers.

For every supported configuration (a minor version, and from 3.13 on also its
free-threaded build "3.13t") this writes a small C probe that includes that
version's headers, compiles it with gcc, runs it and collects offsetof()/sizeof()
values for every field of struct py_layout (src/python/layout.h). Before
anything is written, each interpreter there is started with a checker that
reads its own live objects through ctypes and confirms the offsets (the table
is only as good as that check); the table records which interpreters passed
(py_layout.tested), and a configuration with none says it comes from headers
only.

Where the headers come from:
  - ~/.pyenv/versions/X.Y.Z (pyenv; X.Y.Zt is a free-threaded build, e.g.
    one made by tools/build_python.sh),
  - --headers CONFIG=INCLUDE_DIR for anything else (Debian's libpython3.15-dev),
  - a free-threaded configuration with no headers of its own: its version's
    default headers compiled with -DPy_GIL_DISABLED=1 (for 3.14.7 this gives
    exactly the values of a real --disable-gil install).
and --live CONFIG=HOW=PYTHON adds an interpreter to check (HOW names where it
comes from: "Debian sid", "source build"). tools/sid_pythons.sh --dev installs
Debian sid's 3.14 and 3.15 with their headers under build/sid/; the defaults
below use them when they are there.

    /usr/bin/python3 tools/gen_layouts.py              regenerate src/python/layouts.c
    /usr/bin/python3 tools/gen_layouts.py --check      probe and verify, write nothing
    /usr/bin/python3 tools/gen_layouts.py --compare 3.11 /usr/include/python3.11
                                                       probe other headers (e.g. a distro's)
                                                       and print where they differ
    /usr/bin/python3 tools/gen_layouts.py --verify-with /usr/bin/python3.11
                                                       run the live checker in another build
    /usr/bin/python3 tools/gen_layouts.py --headers 3.15=/usr/include/python3.15 \
        --live 3.15="Debian sid"=build/sid/python3.15

The table is committed; this tool is run by hand, never by the Makefile.

A few structs are not in the installed headers of some versions; the probe
then carries a copy of the definition, with the CPython file it comes from:
  - PyDictKeysObject before 3.11 (Objects/dict-common.h),
  - PyModuleObject before 3.10 (Objects/moduleobject.c).
"""

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUTPUT = os.path.join(ROOT, "src", "python", "layouts.c")
PYENV = os.path.expanduser("~/.pyenv/versions")
SUPPORTED = ["2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13", "3.14", "3.15",
             "3.13t", "3.14t", "3.15t"]
SID = os.path.join(ROOT, "build", "sid")
# The minor versions whose pyenv installs are pyenv's own builds.
PYENV_CLASSIC = {"2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"}
# Interpreters besides pyenv's plain X.Y.Z: (configuration, include dir, how it
# was made, python). Used when they exist; --headers and --live add others.
EXTRA = [
    ("3.14", os.path.join(SID, "root", "usr", "include", "python3.14"), "Debian sid",
     os.path.join(SID, "python3.14")),
    ("3.15", os.path.join(SID, "root", "usr", "include", "python3.15"), "Debian sid",
     os.path.join(SID, "python3.15")),
]


def vt(text):
    """'3.10' or '3.14t' -> (3, 10)."""
    major, minor = text.rstrip("t").split(".")[:2]
    return (int(major), int(minor))


def config(text):
    """'3.14t' -> ((3, 14), True): the version and whether it is free-threaded."""
    return vt(text), text.endswith("t")


def config_name(version, ft):
    return "%d.%d%s" % (version + ("t" if ft else "",))


def on(lo, hi, value, build=None):
    """A value used for versions lo..hi inclusive (None: open-ended), for every
    build, or only "ft" (free-threaded) or "default" ones."""
    return (vt(lo) if lo else None, vt(hi) if hi else None, value, build)


def pick(choices, version, ft=False):
    for lo, hi, value, build in choices:
        if build == "ft" and not ft or build == "default" and ft:
            continue
        if (lo is None or version >= lo) and (hi is None or version <= hi):
            return value
    return None


# ---------------------------------------------------------------------------
# What each version is: capability enums (decisions, not measurements).

KINDS = [
    ("frame_kind", [on(None, "3.10", "PY_FRAME_OBJECT"), on("3.11", None, "PY_FRAME_INTERP")]),
    ("line_kind", [on(None, "2.7", "PY_LINES_LNOTAB27"), on("3.0", "3.9", "PY_LINES_LNOTAB"),
                   on("3.10", "3.10", "PY_LINES_310"), on("3.11", None, "PY_LINES_311")]),
    ("gil_kind", [on(None, "3.6", "PY_GIL_CURRENT_SYMBOL"), on("3.7", "3.11", "PY_GIL_RUNTIME_TSTATE"),
                  on("3.12", None, "PY_GIL_INTERP_CEVAL")]),
    ("dict_kind", [on(None, "2.7", "PY_DICT_27"), on("3.0", "3.10", "PY_DICT_36"),
                   on("3.11", None, "PY_DICT_311")]),
    ("string_kind", [on(None, "2.7", "PY_STR_27"), on("3.0", None, "PY_STR_3")]),
]

# ---------------------------------------------------------------------------
# Every offset field of struct py_layout, in declaration order, with the C
# expression that measures it for each range of versions. A version no range
# covers gets PY_NO_FIELD. Plain numbers are decisions, not measurements.

STATE_BIT = ("({ PyASCIIObject sg_s; unsigned sg_w; memset(&sg_s, 0, sizeof(sg_s)); "
             "sg_s.state.%s; memcpy(&sg_w, (char *)&sg_s + offsetof(PyASCIIObject, state), 4); "
             "__builtin_ctz(sg_w); })")

FIELDS = [
    ("runtime.interpreters_head", [on("3.7", None, "offsetof(_PyRuntimeState, interpreters.head)")]),
    ("runtime.gilstate_tstate_current",
     [on("3.7", "3.11", "offsetof(_PyRuntimeState, gilstate.tstate_current)")]),
    ("runtime.ceval_gil", [on("3.7", "3.11", "offsetof(_PyRuntimeState, ceval.gil)")]),

    ("interp.next", [on(None, None, "offsetof(PyInterpreterState, next)")]),
    ("interp.tstate_head", [on(None, "3.10", "offsetof(PyInterpreterState, tstate_head)"),
                            on("3.11", None, "offsetof(PyInterpreterState, threads.head)")]),
    ("interp.modules", [on(None, "3.11", "offsetof(PyInterpreterState, modules)"),
                        on("3.12", None, "offsetof(PyInterpreterState, imports.modules)")]),
    ("interp.ceval_gil", [on("3.12", None, "offsetof(PyInterpreterState, ceval.gil)")]),

    ("tstate.prev", [on("3.0", None, "offsetof(PyThreadState, prev)")]),
    ("tstate.next", [on(None, None, "offsetof(PyThreadState, next)")]),
    ("tstate.interp", [on(None, None, "offsetof(PyThreadState, interp)")]),
    ("tstate.frame", [on(None, "3.10", "offsetof(PyThreadState, frame)")]),
    ("tstate.cframe", [on("3.11", "3.12", "offsetof(PyThreadState, cframe)")]),
    ("tstate.current_frame", [on("3.13", None, "offsetof(PyThreadState, current_frame)")]),
    ("tstate.thread_id", [on(None, None, "offsetof(PyThreadState, thread_id)")]),
    ("tstate.native_thread_id", [on("3.11", None, "offsetof(PyThreadState, native_thread_id)")]),
    ("tstate.datastack_chunk", [on("3.11", None, "offsetof(PyThreadState, datastack_chunk)")]),
    ("tstate.state", [on("3.13", None, "offsetof(PyThreadState, state)")]),

    ("cframe.current_frame", [on("3.11", "3.12", "offsetof(_PyCFrame, current_frame)")]),

    ("gil.last_holder", [on("3.7", None, "offsetof(struct _gil_runtime_state, last_holder)")]),
    ("gil.locked", [on("3.7", None, "offsetof(struct _gil_runtime_state, locked)")]),
    ("gil.enabled", [on("3.13", None, "offsetof(struct _gil_runtime_state, enabled)", "ft")]),

    ("frame.f_back", [on(None, "3.10", "offsetof(PyFrameObject, f_back)")]),
    ("frame.f_code", [on(None, "3.10", "offsetof(PyFrameObject, f_code)")]),
    ("frame.f_lasti", [on(None, "3.10", "offsetof(PyFrameObject, f_lasti)")]),
    ("frame.f_lineno", [on(None, "3.10", "offsetof(PyFrameObject, f_lineno)")]),
    ("frame.f_localsplus", [on(None, "3.10", "offsetof(PyFrameObject, f_localsplus)")]),

    ("iframe.code", [on("3.11", "3.12", "offsetof(_PyInterpreterFrame, f_code)"),
                     on("3.13", None, "offsetof(_PyInterpreterFrame, f_executable)")]),
    ("iframe.previous", [on("3.11", None, "offsetof(_PyInterpreterFrame, previous)")]),
    ("iframe.instr", [on("3.11", "3.12", "offsetof(_PyInterpreterFrame, prev_instr)"),
                      on("3.13", None, "offsetof(_PyInterpreterFrame, instr_ptr)")]),
    ("iframe.owner", [on("3.11", None, "offsetof(_PyInterpreterFrame, owner)")]),
    ("iframe.is_entry", [on("3.11", "3.11", "offsetof(_PyInterpreterFrame, is_entry)")]),
    ("iframe.localsplus", [on("3.11", None, "offsetof(_PyInterpreterFrame, localsplus)")]),
    ("iframe.stacktop", [on("3.11", "3.13", "offsetof(_PyInterpreterFrame, stacktop)")]),
    ("iframe.tlbc_index", [on("3.14", None, "offsetof(_PyInterpreterFrame, tlbc_index)", "ft")]),
    # 3.14 made f_executable and the frame's slots tagged _PyStackRefs.
    ("iframe.ref_tag_bits", [on(None, "3.13", "0"), on("3.14", None, "Py_TAG_BITS")]),
    # The first owner value that is not a Python frame (pycore_frame.h's
    # _PyFrame_IsIncomplete tests owner >= FRAME_OWNED_BY_INTERPRETER).
    ("iframe.owner_c", [on("3.12", "3.13", "FRAME_OWNED_BY_CSTACK"),
                        on("3.14", None, "FRAME_OWNED_BY_INTERPRETER")]),

    ("chunk.previous", [on("3.11", None, "offsetof(_PyStackChunk, previous)")]),
    ("chunk.size", [on("3.11", None, "offsetof(_PyStackChunk, size)")]),
    ("chunk.top", [on("3.11", None, "offsetof(_PyStackChunk, top)")]),
    ("chunk.data", [on("3.11", None, "offsetof(_PyStackChunk, data)")]),

    ("code.co_argcount", [on(None, None, "offsetof(PyCodeObject, co_argcount)")]),
    ("code.co_nlocals", [on(None, None, "offsetof(PyCodeObject, co_nlocals)")]),
    ("code.co_flags", [on(None, None, "offsetof(PyCodeObject, co_flags)")]),
    ("code.co_firstlineno", [on(None, None, "offsetof(PyCodeObject, co_firstlineno)")]),
    ("code.co_code", [on(None, "3.10", "offsetof(PyCodeObject, co_code)")]),
    ("code.co_varnames", [on(None, "3.10", "offsetof(PyCodeObject, co_varnames)")]),
    ("code.co_cellvars", [on(None, "3.10", "offsetof(PyCodeObject, co_cellvars)")]),
    ("code.co_freevars", [on(None, "3.10", "offsetof(PyCodeObject, co_freevars)")]),
    ("code.co_localsplusnames", [on("3.11", None, "offsetof(PyCodeObject, co_localsplusnames)")]),
    ("code.co_localspluskinds", [on("3.11", None, "offsetof(PyCodeObject, co_localspluskinds)")]),
    ("code.co_nlocalsplus", [on("3.11", None, "offsetof(PyCodeObject, co_nlocalsplus)")]),
    ("code.co_filename", [on(None, None, "offsetof(PyCodeObject, co_filename)")]),
    ("code.co_name", [on(None, None, "offsetof(PyCodeObject, co_name)")]),
    ("code.co_qualname", [on("3.11", None, "offsetof(PyCodeObject, co_qualname)")]),
    ("code.co_lnotab", [on(None, "3.9", "offsetof(PyCodeObject, co_lnotab)")]),
    ("code.co_linetable", [on("3.10", None, "offsetof(PyCodeObject, co_linetable)")]),
    ("code.co_code_adaptive", [on("3.11", None, "offsetof(PyCodeObject, co_code_adaptive)")]),
    ("code.co_tlbc", [on("3.14", None, "offsetof(PyCodeObject, co_tlbc)", "ft")]),
    ("code.codearray_entries", [on("3.14", None, "offsetof(_PyCodeArray, entries)", "ft")]),

    ("object.ob_type", [on(None, None, "offsetof(PyObject, ob_type)")]),
    ("object.ob_size", [on(None, None, "offsetof(PyVarObject, ob_size)")]),
    ("object.tp_name", [on(None, None, "offsetof(PyTypeObject, tp_name)")]),
    ("object.tp_flags", [on(None, None, "offsetof(PyTypeObject, tp_flags)")]),
    ("object.tp_basicsize", [on(None, None, "offsetof(PyTypeObject, tp_basicsize)")]),
    ("object.tp_dictoffset", [on(None, None, "offsetof(PyTypeObject, tp_dictoffset)")]),
    ("object.ht_cached_keys", [on("3.6", None, "offsetof(PyHeapTypeObject, ht_cached_keys)")]),
    ("object.tp_itemsize", [on(None, None, "offsetof(PyTypeObject, tp_itemsize)")]),

    ("unicode.length", [on("3.0", None, "offsetof(PyASCIIObject, length)")]),
    ("unicode.state", [on("3.0", None, "offsetof(PyASCIIObject, state)")]),
    ("unicode.ascii_size", [on("3.0", None, "sizeof(PyASCIIObject)")]),
    ("unicode.compact_size", [on("3.0", None, "sizeof(PyCompactUnicodeObject)")]),
    # Bit positions inside the state word, measured: set one bit-field in a
    # zeroed header and find the bit (3.14t moved them; no member to offsetof).
    ("unicode.kind_shift", [on("3.0", None, STATE_BIT % "kind = 1")]),
    ("unicode.compact_shift", [on("3.0", None, STATE_BIT % "compact = 1")]),
    ("unicode.ascii_shift", [on("3.0", None, STATE_BIT % "ascii = 1")]),

    ("bytes.ob_sval", [on(None, "2.7", "offsetof(PyStringObject, ob_sval)"),
                       on("3.0", None, "offsetof(PyBytesObject, ob_sval)")]),
    ("bytes.u27_length", [on(None, "2.7", "offsetof(PyUnicodeObject, length)")]),
    ("bytes.u27_str", [on(None, "2.7", "offsetof(PyUnicodeObject, str)")]),
    ("bytes.u27_unicode_size", [on(None, "2.7", "sizeof(Py_UNICODE)")]),

    ("obj.int27_ival", [on(None, "2.7", "offsetof(PyIntObject, ob_ival)")]),
    ("obj.long_size", [on(None, "2.7", "offsetof(PyLongObject, ob_size)"),
                       on("3.0", "3.11", "offsetof(PyLongObject, ob_base.ob_size)"),
                       on("3.12", None, "offsetof(PyLongObject, long_value.lv_tag)")]),
    ("obj.long_digit", [on(None, "3.11", "offsetof(PyLongObject, ob_digit)"),
                        on("3.12", None, "offsetof(PyLongObject, long_value.ob_digit)")]),
    ("obj.long_tagged", [on(None, "3.11", "0"), on("3.12", None, "1")]),
    ("obj.digit_bits", [on(None, None, "PyLong_SHIFT")]),
    ("obj.float_fval", [on(None, None, "offsetof(PyFloatObject, ob_fval)")]),
    ("obj.tuple_item", [on(None, None, "offsetof(PyTupleObject, ob_item)")]),
    ("obj.list_item", [on(None, None, "offsetof(PyListObject, ob_item)")]),
    ("obj.module_dict", [on(None, "3.9", "offsetof(struct sg_module, md_dict)"),
                         on("3.10", None, "offsetof(PyModuleObject, md_dict)")]),
    ("obj.inst27_class", [on(None, "2.7", "offsetof(PyInstanceObject, in_class)")]),
    ("obj.class27_name", [on(None, "2.7", "offsetof(PyClassObject, cl_name)")]),
    ("obj.cell_ref", [on(None, None, "offsetof(PyCellObject, ob_ref)")]),
    ("obj.set_used", [on(None, None, "offsetof(PySetObject, used)")]),
    ("obj.set_table", [on(None, None, "offsetof(PySetObject, table)")]),
    ("obj.set_mask", [on(None, None, "offsetof(PySetObject, mask)")]),
    ("obj.set_entry_key", [on(None, None, "offsetof(setentry, key)")]),

    ("dict.ma_used", [on(None, None, "offsetof(PyDictObject, ma_used)")]),
    ("dict.ma_keys", [on(None, "2.7", "offsetof(PyDictObject, ma_table)"),
                      on("3.0", None, "offsetof(PyDictObject, ma_keys)")]),
    ("dict.ma_values", [on(None, "2.7", "offsetof(PyDictObject, ma_mask)"),
                        on("3.0", None, "offsetof(PyDictObject, ma_values)")]),
    ("dict.ma_version_tag", [on("3.6", "3.13", "offsetof(PyDictObject, ma_version_tag)")]),
    ("dict.dk_size", [on("3.0", "3.10", "offsetof(struct sg_dictkeys, dk_size)"),
                      on("3.11", None, "offsetof(PyDictKeysObject, dk_log2_size)")]),
    ("dict.dk_log2_index_bytes", [on("3.11", None, "offsetof(PyDictKeysObject, dk_log2_index_bytes)")]),
    ("dict.dk_kind", [on("3.11", None, "offsetof(PyDictKeysObject, dk_kind)")]),
    ("dict.dk_nentries", [on("3.0", "3.10", "offsetof(struct sg_dictkeys, dk_nentries)"),
                          on("3.11", None, "offsetof(PyDictKeysObject, dk_nentries)")]),
    ("dict.dk_indices", [on("3.0", "3.10", "offsetof(struct sg_dictkeys, dk_indices)"),
                         on("3.11", None, "offsetof(PyDictKeysObject, dk_indices)")]),
    ("dict.values_prefix", [on(None, "3.12", "0"), on("3.13", None, "offsetof(PyDictValues, values)")]),
    # A split dict's insertion order (3.11+). 3.11 and 3.12 keep it in bytes
    # before values[0]: [-1] is the prefix size, [-2] the count, and the order
    # array runs downwards from [-3] (_PyDictValues_AddToInsertionOrder in
    # pycore_dict.h; no struct member to measure, so these are decisions that
    # the live check confirms). 3.13 has header members, and the order array
    # follows values[capacity].
    ("dict.values_capacity", [on("3.11", "3.12", "-1"),
                              on("3.13", None, "offsetof(PyDictValues, capacity)")]),
    ("dict.values_size", [on("3.11", "3.12", "-2"),
                          on("3.13", None, "offsetof(PyDictValues, size)")]),
    ("dict.values_valid", [on("3.13", None, "offsetof(PyDictValues, valid)")]),

    # Managed dicts live in a pre-header before the object (pycore_object.h).
    ("managed.dict_ptr", [on(None, "3.10", "0"),
                          on("3.11", "3.11", "(char *)_PyObject_ManagedDictPointer(sg_obj) - (char *)sg_obj"),
                          on("3.12", "3.12", "(char *)_PyObject_DictOrValuesPointer(sg_obj) - (char *)sg_obj"),
                          on("3.13", None, "MANAGED_DICT_OFFSET")]),
    ("managed.values_ptr", [on("3.11", "3.11", "(char *)_PyObject_ValuesPointer(sg_obj) - (char *)sg_obj"),
                            on(None, None, "0")]),
    ("managed.inline_values", [on("3.13", None, "Py_TPFLAGS_INLINE_VALUES != 0"), on(None, None, "0")]),

    # asyncio's tasks (python/tasks.c): generators and the frames they suspend in.
    ("gen.gi_frame", [on("3.6", "3.10", "offsetof(PyGenObject, gi_frame)")]),
    ("gen.gi_qualname", [on("3.6", None, "offsetof(PyGenObject, gi_qualname)")]),
    ("gen.gi_iframe", [on("3.11", None, "offsetof(PyGenObject, gi_iframe)")]),
    ("gen.gi_frame_state", [on("3.11", None, "offsetof(PyGenObject, gi_frame_state)")]),
    ("gen.ags_gen", [on("3.6", None, "offsetof(struct sg_asend, ags_gen)")]),
    ("genframe.f_valuestack", [on("3.6", "3.10", "offsetof(PyFrameObject, f_valuestack)")]),
    ("genframe.f_stacktop", [on("3.6", "3.9", "offsetof(PyFrameObject, f_stacktop)")]),
    ("genframe.f_stackdepth", [on("3.10", "3.10", "offsetof(PyFrameObject, f_stackdepth)")]),
    ("genframe.f_state", [on("3.10", "3.10", "offsetof(PyFrameObject, f_state)")]),
    # Modules/_asynciomodule.c keeps these structs to itself: the probe carries
    # copies (ASYNCIO_STRUCTS below), and the live check confirms them.
    ("asyncio.fut_loop", [on("3.6", None, "offsetof(struct sg_task, fut_loop)")]),
    ("asyncio.fut_callback0", [on("3.7", None, "offsetof(struct sg_task, fut_callback0)")]),
    ("asyncio.fut_callbacks", [on("3.6", None, "offsetof(struct sg_task, fut_callbacks)")]),
    ("asyncio.fut_state", [on("3.6", None, "offsetof(struct sg_task, fut_state)")]),
    ("asyncio.task_fut_waiter", [on("3.6", None, "offsetof(struct sg_task, task_fut_waiter)")]),
    ("asyncio.task_coro", [on("3.6", None, "offsetof(struct sg_task, task_coro)")]),
    ("asyncio.task_name", [on("3.8", None, "offsetof(struct sg_task, task_name)")]),
    ("asyncio.task_size", [on("3.6", None, "sizeof(struct sg_task)")]),
    ("asyncio.future_iter_future", [on("3.6", None, "offsetof(struct sg_future_iter, future)")]),
    ("asyncio.wakeup_task", [on("3.6", "3.9", "offsetof(struct sg_wakeup, ww_task)")]),
    ("asyncio.deque_state", [on("3.6", None, "offsetof(struct sg_deque, state)")]),
    ("more.tp_dict", [on(None, None, "offsetof(PyTypeObject, tp_dict)")]),
    ("more.tp_mro", [on(None, None, "offsetof(PyTypeObject, tp_mro)")]),
    ("more.tp_weaklistoffset", [on(None, None, "offsetof(PyTypeObject, tp_weaklistoffset)")]),
    ("more.wr_object", [on(None, None, "offsetof(PyWeakReference, wr_object)")]),
    ("more.wr_callback", [on(None, None, "offsetof(PyWeakReference, wr_callback)")]),
    ("more.wr_next", [on(None, None, "offsetof(PyWeakReference, wr_next)")]),
    ("more.func_defaults", [on(None, None, "offsetof(PyFunctionObject, func_defaults)")]),
    ("more.cfunc_self", [on(None, None, "offsetof(PyCFunctionObject, m_self)")]),
    ("more.method_self", [on(None, None, "offsetof(PyMethodObject, im_self)")]),
    ("more.member_def", [on(None, None, "offsetof(PyMemberDescrObject, d_member)")]),
    ("more.member_offset", [on(None, None, "offsetof(PyMemberDef, offset)")]),
]

# Fields whose "absent" value is 0 rather than PY_NO_FIELD (flags, masks and
# signed pre-header offsets); they always have a rule above.
SIGNED = {"managed.dict_ptr", "managed.values_ptr", "dict.values_capacity", "dict.values_size",
          "iframe.ref_tag_bits"}

# ---------------------------------------------------------------------------
# 3.13+: where _Py_DebugOffsets (the first member of _PyRuntime) keeps the same
# values. (layout field, _Py_DebugOffsets member, member subtracted first).
# The GIL members are offsets within PyInterpreterState of the embedded _gil;
# our gil.* are within struct _gil_runtime_state, hence the base. The struct
# grows with every version (DEBUG_SINCE), and every group after the first
# moves, so each version gets its own map, compiled from its own headers.

DEBUG_OFFSETS = [
    ("runtime.interpreters_head", "runtime_state.interpreters_head", None),
    ("interp.next", "interpreter_state.next", None),
    ("interp.tstate_head", "interpreter_state.threads_head", None),
    ("interp.modules", "interpreter_state.imports_modules", None),
    ("interp.ceval_gil", "interpreter_state.ceval_gil", None),
    ("gil.locked", "interpreter_state.gil_runtime_state_locked", "interpreter_state.gil_runtime_state"),
    ("gil.last_holder", "interpreter_state.gil_runtime_state_holder",
     "interpreter_state.gil_runtime_state"),
    ("tstate.prev", "thread_state.prev", None),
    ("tstate.next", "thread_state.next", None),
    ("tstate.interp", "thread_state.interp", None),
    ("tstate.current_frame", "thread_state.current_frame", None),
    ("tstate.thread_id", "thread_state.thread_id", None),
    ("tstate.native_thread_id", "thread_state.native_thread_id", None),
    ("tstate.datastack_chunk", "thread_state.datastack_chunk", None),
    ("iframe.previous", "interpreter_frame.previous", None),
    ("iframe.code", "interpreter_frame.executable", None),
    ("iframe.instr", "interpreter_frame.instr_ptr", None),
    ("iframe.localsplus", "interpreter_frame.localsplus", None),
    ("iframe.owner", "interpreter_frame.owner", None),
    ("code.co_filename", "code_object.filename", None),
    ("code.co_name", "code_object.name", None),
    ("code.co_qualname", "code_object.qualname", None),
    ("code.co_linetable", "code_object.linetable", None),
    ("code.co_firstlineno", "code_object.firstlineno", None),
    ("code.co_argcount", "code_object.argcount", None),
    ("code.co_localsplusnames", "code_object.localsplusnames", None),
    ("code.co_localspluskinds", "code_object.localspluskinds", None),
    ("code.co_code_adaptive", "code_object.co_code_adaptive", None),
    ("object.ob_type", "pyobject.ob_type", None),
    ("object.tp_name", "type_object.tp_name", None),
    ("object.tp_flags", "type_object.tp_flags", None),
    ("object.ob_size", "tuple_object.ob_size", None),
    ("obj.tuple_item", "tuple_object.ob_item", None),
    ("obj.list_item", "list_object.ob_item", None),
    ("dict.ma_keys", "dict_object.ma_keys", None),
    ("dict.ma_values", "dict_object.ma_values", None),
    ("obj.float_fval", "float_object.ob_fval", None),
    ("obj.long_size", "long_object.lv_tag", None),
    ("obj.long_digit", "long_object.ob_digit", None),
    ("bytes.ob_sval", "bytes_object.ob_sval", None),
    ("unicode.state", "unicode_object.state", None),
    ("unicode.length", "unicode_object.length", None),
    ("unicode.ascii_size", "unicode_object.asciiobject_size", None),
    ("obj.set_used", "set_object.used", None),
    ("obj.set_table", "set_object.table", None),
    ("obj.set_mask", "set_object.mask", None),
    ("iframe.tlbc_index", "interpreter_frame.tlbc_index", None),
    ("code.co_tlbc", "code_object.co_tlbc", None),
    ("object.tp_basicsize", "type_object.tp_basicsize", None),
    ("object.tp_dictoffset", "type_object.tp_dictoffset", None),
    ("object.ht_cached_keys", "heap_type_object.ht_cached_keys", None),
    ("unicode.compact_size", "unicode_object.compactunicodeobject_size", None),
]
# The first version whose _Py_DebugOffsets has a member (3.13 if not listed).
DEBUG_SINCE = {
    "set_object.used": (3, 14), "set_object.table": (3, 14), "set_object.mask": (3, 14),
    "interpreter_frame.tlbc_index": (3, 14), "code_object.co_tlbc": (3, 14),
    "type_object.tp_basicsize": (3, 15), "type_object.tp_dictoffset": (3, 15),
    "heap_type_object.ht_cached_keys": (3, 15),
    "unicode_object.compactunicodeobject_size": (3, 15),
}
# Members a default build sets to 0 because it has no such field.
DEBUG_ZERO_ABSENT = {"interpreter_frame.tlbc_index", "code_object.co_tlbc"}
# Groups of _Py_DebugOffsets that start with their struct's size.
DEBUG_SIZED = {"runtime_state", "interpreter_state", "thread_state", "interpreter_frame",
               "code_object", "pyobject", "type_object", "heap_type_object", "tuple_object",
               "list_object", "set_object", "dict_object", "float_object", "long_object",
               "bytes_object", "unicode_object"}
DEBUG_HEADER = ["cookie", "version", "free_threaded"]
DEBUG_VERSIONS = [(3, 13), (3, 14), (3, 15)]


def debug_offsets_of(version):
    """The DEBUG_OFFSETS entries a version's _Py_DebugOffsets has."""
    return [(f, m, b) for f, m, b in DEBUG_OFFSETS if version >= DEBUG_SINCE.get(m, (3, 13))]


def debug_group_size(member):
    group = member.split(".")[0]
    return group + ".size" if group in DEBUG_SIZED else None

# ---------------------------------------------------------------------------
# The probe: headers per version, plus copies of structs that are not installed.

DICTKEYS_36 = """\
/* Objects/dict-common.h (v3.6.15), not installed: only the offsets matter. */
struct sg_dictkeys {
    Py_ssize_t dk_refcnt;
    Py_ssize_t dk_size;
    void *dk_lookup;
    Py_ssize_t dk_usable;
    Py_ssize_t dk_nentries;
    union {
        int8_t as_1[8];
        int16_t as_2[4];
        int32_t as_4[2];
        int64_t as_8[1];
    } dk_indices;
};
"""

DICTKEYS_37 = """\
/* Objects/dict-common.h (v3.7 - v3.10), not installed: only the offsets matter. */
struct sg_dictkeys {
    Py_ssize_t dk_refcnt;
    Py_ssize_t dk_size;
    void *dk_lookup;
    Py_ssize_t dk_usable;
    Py_ssize_t dk_nentries;
    char dk_indices[];
};
"""

MODULE_OLD = """\
/* Objects/moduleobject.c (v2.7 - v3.9), not installed: md_dict follows the head. */
struct sg_module {
    PyObject_HEAD
    PyObject *md_dict;
};
"""


def asyncio_structs(version):
    """Copies of the structs asyncio's C objects are made of, which no header
    installs. Where each comes from (the line of the struct in that release):
      FutureObj / TaskObj: Modules/_asynciomodule.c, FutureObj_HEAD at line 57/75/78/79/79/
        85/131/134 and TaskObj at 65/84/88/89/89/96/142/145 for 3.6 ... 3.13 (the
        DW_AT_decl_line of each pyenv build's _asyncio module, whose DWARF `ptype /o`
        gave the same offsets as this probe), and at 31 and 59 for 3.14.7
        (fut_awaited_by, fut_is_task, task_node; task_tid when free-threaded); 3.15 is
        taken to be 3.14's, which the live check confirms on Debian sid's 3.15.2;
      futureiterobject {head; FutureObj *future} and TaskWakeupMethWrapper {head;
        TaskObj *ww_task} (3.6 - 3.9), same file;
      PyAsyncGenASend {head; PyAsyncGenObject *ags_gen; ...}: Objects/genobject.c;
      dequeobject {var head; block *leftblock, *rightblock; Py_ssize_t leftindex,
        rightindex; size_t state; ...}: Modules/_collectionsmodule.c.
    Only the fields up to the last one we read are copied; the live check
    confirms every offset against objects the interpreter makes."""
    fut = ["PyObject *fut_loop;"]
    if version >= (3, 7):
        fut += ["PyObject *fut_callback0;", "PyObject *fut_context0;"]
    fut += ["PyObject *fut_callbacks;", "PyObject *fut_exception;"]
    if version >= (3, 10):
        fut += ["PyObject *fut_exception_tb;"]
    fut += ["PyObject *fut_result;", "PyObject *fut_source_tb;"]
    if version >= (3, 9):
        fut += ["PyObject *fut_cancel_msg;"]
    if version >= (3, 14):  # for remote readers: who awaits it, and is it a task
        fut += ["PyObject *fut_cancelled_exc;", "PyObject *fut_awaited_by;", "int fut_state;",
                "char fut_is_task;", "char fut_awaited_by_is_set;",
                "unsigned int fut_log_tb : 1;", "unsigned int fut_blocking : 1;"]
    elif version >= (3, 13):  # no dict or weakref list any more: both are managed
        fut += ["PyObject *fut_cancelled_exc;", "int fut_state;",
                "unsigned int fut_log_tb : 1;", "unsigned int fut_blocking : 1;"]
    else:
        fut += ["int fut_state;", "int fut_log_tb;", "int fut_blocking;", "PyObject *dict;",
                "PyObject *fut_weakreflist;"]
        if (3, 9) <= version <= (3, 10):
            fut += ["_PyErr_StackItem fut_cancelled_exc_state;"]
        elif version >= (3, 11):
            fut += ["PyObject *fut_cancelled_exc;"]
    if version >= (3, 13):
        task = ["unsigned int task_must_cancel : 1;", "unsigned int task_log_destroy_pending : 1;",
                "int task_num_cancels_requested;", "PyObject *task_fut_waiter;",
                "PyObject *task_coro;", "PyObject *task_name;", "PyObject *task_context;"]
        if version >= (3, 14):  # the thread's list of tasks; free-threaded: its creator
            task += ["void *task_node_next, *task_node_prev;",
                     "\n#ifdef Py_GIL_DISABLED\n    uintptr_t task_tid;\n#endif\n"]
    else:
        task = ["PyObject *task_fut_waiter;", "PyObject *task_coro;"]
        if version >= (3, 8):
            task += ["PyObject *task_name;"]
        if version >= (3, 7):
            task += ["PyObject *task_context;"]
        task += ["int task_must_cancel;", "int task_log_destroy_pending;"]
        if version >= (3, 11):
            task += ["int task_num_cancels_requested;"]
    body = "".join("    %s\n" % f for f in fut + task)
    return ("/* Modules/_asynciomodule.c (v%d.%d), not installed: TaskObj. */\n" % version +
            "struct sg_task {\n    PyObject_HEAD\n" + body + "};\n"
            "struct sg_future_iter {\n    PyObject_HEAD\n    void *future;\n};\n"
            "struct sg_wakeup {\n    PyObject_HEAD\n    void *ww_task;\n};\n"
            "/* Objects/genobject.c, not installed. */\n"
            "struct sg_asend {\n    PyObject_HEAD\n    void *ags_gen;\n};\n"
            "/* Modules/_collectionsmodule.c, not installed. */\n"
            "struct sg_deque {\n    PyObject_VAR_HEAD\n    void *leftblock, *rightblock;\n"
            "    Py_ssize_t leftindex, rightindex;\n    size_t state;\n};\n")


def probe_headers(version):
    """Returns (defines, includes, extra C text) for a version's probe."""
    includes = ["Python.h", "structmember.h"]
    if version <= (3, 10):
        includes += ["code.h", "frameobject.h", "longintrepr.h"]
    if version == (3, 7):
        includes += ["internal/pystate.h"]
    elif (3, 8) <= version <= (3, 8):
        includes += ["internal/pycore_pystate.h"]
    elif version >= (3, 9):
        includes += ["internal/pycore_runtime.h", "internal/pycore_interp.h"]
    if version >= (3, 10):
        includes += ["internal/pycore_moduleobject.h"]
    if version >= (3, 11):
        includes += ["internal/pycore_frame.h", "internal/pycore_dict.h",
                     "internal/pycore_object.h", "internal/pycore_code.h"]
    if version >= (3, 14):
        includes += ["internal/pycore_stackref.h", "internal/pycore_interpframe.h"]
    if (3, 8) <= version:
        includes += ["internal/pycore_gil.h"]
    elif version == (3, 7):
        includes += ["internal/gil.h"]
    extra = ""
    if version <= (3, 9):
        extra += MODULE_OLD
    if version == (3, 6):
        extra += DICTKEYS_36
    elif (3, 7) <= version <= (3, 10):
        extra += DICTKEYS_37
    if version >= (3, 6):
        extra += asyncio_structs(version)
    core = version >= (3, 7)
    return core, includes, extra


def probe_source(version, ft):
    core, includes, extra = probe_headers(version)
    out = ["/* probe for CPython %s, written by tools/gen_layouts.py */" % config_name(version, ft),
           "#define NDEBUG 1 /* release builds; assert()s in inline helpers go */"]
    if core:
        out.append("#define Py_BUILD_CORE 1")
    out += ['#include "%s"' % h for h in includes]
    out += ["#include <stddef.h>", "#include <stdio.h>", "#include <string.h>", extra]
    # A free-threaded probe must really see a free-threaded build (its own
    # pyconfig.h, or -DPy_GIL_DISABLED=1 on the default headers), and a
    # default one must not.
    out.append("#if %sdefined(Py_GIL_DISABLED)" % ("!" if ft else ""))
    out.append('#error "headers of the wrong build"')
    out.append("#endif")
    out.append("static void *sg_buf[64];")
    out.append("int main(void)\n{")
    out.append("    PyObject *sg_obj = (PyObject *)&sg_buf[32];")
    out.append("    (void)sg_obj;")
    for name, choices in FIELDS:
        expr = pick(choices, version, ft)
        if expr is not None:
            out.append('    printf("%%s %%lld\\n", "%s", (long long)(%s));' % (name, expr))
    if version in DEBUG_VERSIONS:
        for member in DEBUG_HEADER:
            out.append('    printf("%%s %%lld\\n", "debug.%s", (long long)offsetof(_Py_DebugOffsets, %s));'
                       % (member, member))
        out.append('    printf("debug.sizeof %lld\\n", (long long)sizeof(_Py_DebugOffsets));')
        members = set()
        for _, member, base in debug_offsets_of(version):
            members.add(member)
            if base:
                members.add(base)
            if debug_group_size(member):
                members.add(debug_group_size(member))
        for member in sorted(members):
            out.append('    printf("%%s %%lld\\n", "debug.%s", (long long)offsetof(_Py_DebugOffsets, %s));'
                       % (member, member))
        out.append('    printf("debug.cookie_value %s\\n", _Py_Debug_Cookie);')
    out.append("    return 0;\n}")
    return "\n".join(out) + "\n"


def run_probe(version, ft, include_dirs, workdir, cflags=()):
    """Compiles and runs the probe; returns {name: value}."""
    src = os.path.join(workdir, "probe_%s.c" % config_name(version, ft).replace(".", "_"))
    exe = src[:-2]
    with open(src, "w") as f:
        f.write(probe_source(version, ft))
    cmd = ["gcc", "-std=gnu11", "-O0"] + list(cflags) + ["-o", exe, src]
    for d in include_dirs:
        cmd += ["-I", d]
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True)
    if res.returncode != 0:
        sys.exit("gen_layouts: the %s probe does not compile:\n%s"
                 % (config_name(version, ft), res.stdout))
    res = subprocess.run([exe], stdout=subprocess.PIPE, universal_newlines=True, check=True)
    values = {}
    for line in res.stdout.splitlines():
        name, value = line.split(" ", 1)
        values[name] = value if name == "debug.cookie_value" else int(value)
    return values


def include_dirs_for(path):
    """The include dirs for a header tree: itself, its internal/, and a
    multiarch pyconfig.h dir (Debian) when pyconfig.h is not beside Python.h."""
    dirs = [path, os.path.join(path, "internal")]
    name = os.path.basename(path.rstrip("/"))
    parent = os.path.dirname(path.rstrip("/"))
    if not os.path.exists(os.path.join(path, "pyconfig.h")):
        dirs += glob.glob(os.path.join(parent, "*", name))
    elif glob.glob(os.path.join(parent, "*", name, "pyconfig.h")):
        dirs.append(parent)  # Debian's pyconfig.h includes <ARCH/pythonX.Y/pyconfig.h>
    return dirs


class Source(object):
    """Where a configuration's headers come from, and the interpreters that
    check the result live: [(how, python)]."""

    def __init__(self, label, include, cflags=(), lives=()):
        self.label = label
        self.include = include
        self.cflags = list(cflags)
        self.lives = list(lives)


def find_interpreters(root):
    """Returns {config name: Source} for pyenv's X.Y.Z (and X.Y.Zt: a
    free-threaded build) under root, then the EXTRA ones that exist."""
    found = {}
    for prefix in sorted(glob.glob(os.path.join(root, "*"))):
        m = re.match(r"^(\d+)\.(\d+)\.(\d+)(t?)$", os.path.basename(prefix))
        if not m:
            continue
        name = "%s.%s%s" % (m.group(1), m.group(2), m.group(4))
        include = os.path.join(prefix, "include", "python" + name)
        exe = os.path.join(prefix, "bin", "python" + name)
        if not os.path.isdir(include):  # 2.7, 3.6, 3.7: python3.7m
            include = (glob.glob(include + "*") or [include])[0]
        if os.path.isdir(include) and os.path.exists(exe):
            how = "pyenv" if not m.group(4) and name in PYENV_CLASSIC else "source build"
            found[name] = Source(os.path.basename(prefix), include, lives=[(how, exe)])
    for name, include, how, exe in EXTRA:
        lives = [(how, exe)] if os.path.exists(exe) else []
        if name in found:
            found[name].lives += lives  # checked by both
        elif os.path.isdir(include):
            found[name] = Source(how + " " + os.path.basename(include), include, lives=lives)
    return found


def derive_free_threaded(found):
    """A free-threaded configuration without headers of its own (3.15t: no
    such build could be had) uses its version's default headers compiled
    with -DPy_GIL_DISABLED=1; nothing checks it live."""
    for text in SUPPORTED:
        version, ft = config(text)
        base = found.get(config_name(version, False))
        if ft and text not in found and base:
            found[text] = Source(base.label + " -DPy_GIL_DISABLED=1", base.include,
                                 base.cflags + ["-DPy_GIL_DISABLED=1"])


# ---------------------------------------------------------------------------
# The live checker: runs inside each interpreter (2.7 and 3.x), reads its own
# objects through ctypes and compares with the table. Reads happen inline in
# the functions whose frames they inspect, since a helper call would push a
# frame of its own.

CHECKER = r'''
import ctypes, json, sys, threading
try:
    from thread import get_ident
except ImportError:
    from threading import get_ident

IN = json.loads(sys.stdin.read())
L = IN["layout"]
V = tuple(IN["version"])
FT = IN["free_threaded"]
GIL = getattr(sys, "_is_gil_enabled", lambda: True)()
P = ctypes.c_void_p
api = ctypes.pythonapi
api.PyThreadState_Get.restype = P
api.PyInterpreterState_Head.restype = P
results = []
NO = set(k for k in L if L[k] is None)

def has(k):
    return L.get(k) is not None

def ptr(a):
    return P.from_address(a).value or 0

def i32(a):
    return ctypes.c_int.from_address(a).value

def u8(a):
    return ctypes.c_ubyte.from_address(a).value

def ssize(a):
    return ctypes.c_ssize_t.from_address(a).value

def check(name, ok, detail=""):
    results.append((name, bool(ok), str(detail)))

tstate = api.PyThreadState_Get()
interp = api.PyInterpreterState_Head()

# A second thread, so the thread list has two entries; it parks on an event.
ready = threading.Event()
done = threading.Event()
other = []
def park():
    other.append(api.PyThreadState_Get())
    if has("iframe.tlbc_index"):
        tlbc_probe()
    ready.set()
    done.wait()

def tlbc_probe():
    """Free-threaded 3.14+: a second thread runs its own copy of the bytecode
    (co_tlbc->entries[tlbc_index]), so its instr_ptr is relative to that."""
    me = api.PyThreadState_Get()
    fr = P.from_address(me + L["tstate.current_frame"]).value
    back = sys._getframe().f_back
    prev = ptr(fr + L["iframe.previous"])
    index = i32(prev + L["iframe.tlbc_index"])
    code = ptr(prev + L["iframe.code"]) & ~L["iframe.ref_tag_bits"]
    array = ptr(code + L["code.co_tlbc"])
    base = ptr(array + L["code.codearray_entries"] + 8 * index)
    lasti = ptr(prev + L["iframe.instr"]) - base
    check("iframe.tlbc_index", index > 0 and code == id(back.f_code), index)
    check("code.co_tlbc", lasti == back.f_lasti, "%d vs %d" % (lasti, back.f_lasti))
t = threading.Thread(target=park)
t.start()
ready.wait()
helper = other[0]

check("tstate.interp", ptr(tstate + L["tstate.interp"]) == interp)
check("tstate.thread_id", ptr(tstate + L["tstate.thread_id"]) == get_ident())
if has("tstate.native_thread_id"):
    check("tstate.native_thread_id",
          ptr(tstate + L["tstate.native_thread_id"]) == threading.get_native_id())
head = ptr(interp + L["interp.tstate_head"])
check("interp.tstate_head", head == helper, "head %x helper %x" % (head, helper))
check("tstate.next", ptr(helper + L["tstate.next"]) == tstate)
if has("tstate.prev"):
    check("tstate.prev", ptr(tstate + L["tstate.prev"]) == helper)
check("interp.next", ptr(interp + L["interp.next"]) == 0)
check("interp.modules", ptr(interp + L["interp.modules"]) == id(sys.modules))

# The GIL: this thread holds it (the helper has waited on the event).
if has("runtime.interpreters_head"):
    rt = ctypes.addressof(ctypes.c_char.in_dll(api, "_PyRuntime"))
    check("runtime.interpreters_head", ptr(rt + L["runtime.interpreters_head"]) == interp)
    if has("runtime.gilstate_tstate_current"):
        check("runtime.gilstate_tstate_current",
              ptr(rt + L["runtime.gilstate_tstate_current"]) == tstate)
    gil = rt + L["runtime.ceval_gil"] if has("runtime.ceval_gil") else 0
    if has("interp.ceval_gil"):
        gil = ptr(interp + L["interp.ceval_gil"])
        check("interp.ceval_gil", gil != 0)
    if has("gil.enabled"):
        check("gil.enabled", (i32(gil + L["gil.enabled"]) != 0) == GIL)
    if GIL:
        check("gil.locked", i32(gil + L["gil.locked"]) == 1)
        check("gil.last_holder", ptr(gil + L["gil.last_holder"]) == tstate)
    if has("tstate.state"):
        # This thread runs Python; the helper waits in C, detached (without a
        # GIL it may still be on its way into the wait: give it a second).
        import time
        for _ in range(100):
            if i32(helper + L["tstate.state"]) == 0:
                break
            time.sleep(0.01)
        check("tstate.state", i32(tstate + L["tstate.state"]) == 1 and
              i32(helper + L["tstate.state"]) == 0,
              "%d %d" % (i32(tstate + L["tstate.state"]), i32(helper + L["tstate.state"])))
else:
    cur = ctypes.addressof(ctypes.c_char.in_dll(api, "_PyThreadState_Current"))
    check("_PyThreadState_Current", ptr(cur) == tstate)
done.set()
t.join()

# A subinterpreter goes to the head of the list; main is its next.
try:
    import _xxsubinterpreters as subinterpreters
except ImportError:
    subinterpreters = None
if subinterpreters and has("runtime.interpreters_head"):
    sub = subinterpreters.create()
    head = ptr(rt + L["runtime.interpreters_head"])
    check("runtime.interpreters_head (subinterpreter)", head != interp and head != 0)
    check("interp.next (subinterpreter)", ptr(head + L["interp.next"]) == interp)
    subinterpreters.destroy(sub)

# Frames. probe() runs in a frame whose first local is `marker`.
def probe_old(marker):
    f = sys._getframe()
    cur = P.from_address(tstate + L["tstate.frame"]).value
    back = f.f_back
    check("tstate.frame", cur == id(f))
    check("frame.f_back", ptr(id(f) + L["frame.f_back"]) == id(back))
    check("frame.f_code", ptr(id(f) + L["frame.f_code"]) == id(f.f_code))
    check("frame.f_localsplus", ptr(id(f) + L["frame.f_localsplus"]) == id(marker))
    raw = i32(id(back) + L["frame.f_lasti"])
    scale = 2 if V == (3, 10) else 1
    check("frame.f_lasti", raw * scale == back.f_lasti, "%d vs %d" % (raw, back.f_lasti))

def probe_new(marker):
    if "tstate.cframe" not in NO:
        fr = P.from_address(tstate + L["tstate.cframe"]).value
        fr = P.from_address(fr + L["cframe.current_frame"]).value
    else:
        fr = P.from_address(tstate + L["tstate.current_frame"]).value
    f = sys._getframe()
    back = f.f_back
    code = f.f_code
    tag = L["iframe.ref_tag_bits"]
    check("iframe.code", ptr(fr + L["iframe.code"]) & ~tag == id(code))
    # Py_TAG_BITS: 3.14t tags only bit 0 (deferred references), 3.14 and 3.15
    # bits 0-1; a 3.14t frame's f_executable has bit 0 set, which the
    # iframe.code check above needs masked off.
    want = 0 if V < (3, 14) else 1 if FT and V == (3, 14) else 3
    check("iframe.ref_tag_bits", tag == want, tag)
    check("iframe.localsplus", ptr(fr + L["iframe.localsplus"]) & ~tag == id(marker))
    check("iframe.owner", u8(fr + L["iframe.owner"]) == 0)
    prev = ptr(fr + L["iframe.previous"])
    check("iframe.previous", ptr(prev + L["iframe.code"]) & ~tag == id(back.f_code))
    start = id(back.f_code) + L["code.co_code_adaptive"]
    lasti = ptr(prev + L["iframe.instr"]) - start
    check("iframe.instr", lasti == back.f_lasti, "%d vs %d" % (lasti, back.f_lasti))
    bc = back.f_code
    nlocalsplus = len(bc.co_varnames) + len(bc.co_cellvars) + len(bc.co_freevars)
    if has("iframe.stacktop"):
        top = i32(prev + L["iframe.stacktop"])
        check("iframe.stacktop", nlocalsplus <= top <= nlocalsplus + bc.co_stacksize,
              "%d (nlocalsplus %d)" % (top, nlocalsplus))
    if has("iframe.owner_c"):
        # The interpreter's own frames: a C-stack shim or entry frame (owner
        # >= owner_c) sits below the oldest Python frame of the thread.
        bottom = prev
        while ptr(bottom + L["iframe.previous"]):
            bottom = ptr(bottom + L["iframe.previous"])
        check("iframe.owner_c", u8(bottom + L["iframe.owner"]) >= L["iframe.owner_c"],
              u8(bottom + L["iframe.owner"]))
    if has("iframe.is_entry"):
        bottom = prev
        while ptr(bottom + L["iframe.previous"]):
            bottom = ptr(bottom + L["iframe.previous"])
        check("iframe.is_entry", u8(fr + L["iframe.is_entry"]) == 0 and
              u8(bottom + L["iframe.is_entry"]) == 1)
    chunk = ptr(tstate + L["tstate.datastack_chunk"])
    size = ptr(chunk + L["chunk.size"])
    check("tstate.datastack_chunk", chunk + L["chunk.data"] <= fr < chunk + size)
    check("chunk.size", 4096 <= size <= (1 << 24), size)
    check("chunk.previous", ptr(chunk + L["chunk.previous"]) == 0)
    # The root chunk skips data[0]; the -c module frame is the first one pushed.
    check("chunk.data", bottom_frame(prev) == chunk + L["chunk.data"] + 8)

def bottom_frame(fr):
    """The oldest frame of the thread that lives on its data stack (3.12+
    put a C-stack shim frame, owner >= owner_c, below it)."""
    last = fr
    while fr:
        if not has("iframe.owner_c") or u8(fr + L["iframe.owner"]) < L["iframe.owner_c"]:
            last = fr
        fr = ptr(fr + L["iframe.previous"])
    return last

def deep(n):
    """Recurses until the thread's frames spill into a second chunk, then
    checks that the root chunk remembers where its frames ended."""
    chunk = P.from_address(tstate + L["tstate.datastack_chunk"]).value
    root = ptr(chunk + L["chunk.previous"])
    if not root:
        return deep(n + 1) if n < 5000 else None
    size = ptr(root + L["chunk.size"])
    used = ptr(root + L["chunk.top"]) * 8
    check("chunk.top", size // 2 <= used <= size - L["chunk.data"], "%d of %d" % (used, size))
    check("chunk.previous (second chunk)", ptr(chunk + L["chunk.previous"]) == root)

def gen_owner():
    if "tstate.cframe" not in NO:
        fr = P.from_address(tstate + L["tstate.cframe"]).value
        fr = P.from_address(fr + L["cframe.current_frame"]).value
    else:
        fr = P.from_address(tstate + L["tstate.current_frame"]).value
    yield ctypes.c_ubyte.from_address(fr + L["iframe.owner"]).value

def caller():
    marker = object()
    if has("frame.f_back"):
        probe_old(marker)
    else:
        probe_new(marker)
        check("iframe.owner generator", next(gen_owner()) == 1)
        deep(0)
caller()

def traced():
    x = 1
    x += 1
    return x
if has("frame.f_lineno"):
    seen = []
    def tracer(frame, event, arg):
        if event == "line" and frame.f_code is traced.__code__:
            seen.append(i32(id(frame) + L["frame.f_lineno"]) == frame.f_lineno)
        return tracer
    sys.settrace(tracer)
    traced()
    sys.settrace(None)
    check("frame.f_lineno", seen and all(seen), seen)

# Code objects.
# Distinct argcount, nlocals and nlocalsplus, and a qualname unlike the name,
# so an offset one field off reads a different value.
class Holder(object):
    def never_run(self, a, b):
        x = y = 0
        def inner():
            return x
        return inner
fn = Holder.__dict__["never_run"]
co = getattr(fn, "__code__", None) or fn.func_code
c = id(co)
check("code.co_argcount", i32(c + L["code.co_argcount"]) == co.co_argcount)
check("code.co_nlocals", i32(c + L["code.co_nlocals"]) == co.co_nlocals)
gco = getattr(gen_owner, "__code__", None) or gen_owner.func_code
check("code.co_flags", i32(c + L["code.co_flags"]) == co.co_flags and
      i32(id(gco) + L["code.co_flags"]) == gco.co_flags)
check("code.co_firstlineno", i32(c + L["code.co_firstlineno"]) == co.co_firstlineno)
check("code.co_filename", ptr(c + L["code.co_filename"]) == id(co.co_filename))
check("code.co_name", ptr(c + L["code.co_name"]) == id(co.co_name))
for k in ("co_code", "co_varnames", "co_lnotab", "co_linetable", "co_qualname"):
    if has("code." + k):
        check("code." + k, ptr(c + L["code." + k]) == id(getattr(co, k)))
if has("code.co_cellvars"):
    ico = [k for k in co.co_consts if hasattr(k, "co_freevars")][0]
    check("code.co_cellvars", co.co_cellvars == ("x",) and
          ptr(c + L["code.co_cellvars"]) == id(co.co_cellvars))
    check("code.co_freevars", ico.co_freevars == ("x",) and
          ptr(id(ico) + L["code.co_freevars"]) == id(ico.co_freevars))
if has("code.co_localsplusnames"):
    n = len(co.co_varnames) + len(co.co_cellvars) + len(co.co_freevars)
    names = ptr(c + L["code.co_localsplusnames"])
    kinds = ptr(c + L["code.co_localspluskinds"])
    check("code.co_localsplusnames", ptr(names + L["object.ob_type"]) == id(tuple) and
          ptr(names + L["obj.tuple_item"]) == id(co.co_varnames[0]))
    check("code.co_localspluskinds", ptr(kinds + L["object.ob_type"]) == id(bytes) and
          ssize(kinds + L["object.ob_size"]) == n)
    check("code.co_nlocalsplus", i32(c + L["code.co_nlocalsplus"]) == n)
    # Quickening (3.12+ at creation) may rewrite later instructions, never
    # the leading MAKE_CELL and RESUME.
    raw = ctypes.string_at(c + L["code.co_code_adaptive"], 4)
    check("code.co_code_adaptive", raw == co.co_code[:4])

# Types and plain objects.
class Plain(object):
    pass
lst = [object(), 2, 3]
check("object.ob_type", ptr(id(lst) + L["object.ob_type"]) == id(list))
check("object.ob_size", ssize(id(lst) + L["object.ob_size"]) == 3)
check("object.tp_name", ctypes.string_at(ptr(id(int) + L["object.tp_name"])) == b"int")
check("object.tp_flags", ctypes.c_ulong.from_address(id(Plain) + L["object.tp_flags"]).value
      == Plain.__flags__)
check("object.tp_basicsize", ssize(id(Plain) + L["object.tp_basicsize"]) == Plain.__basicsize__)
check("object.tp_dictoffset", ssize(id(Plain) + L["object.tp_dictoffset"]) == Plain.__dictoffset__)
check("object.tp_itemsize", ssize(id(tuple) + L["object.tp_itemsize"]) == tuple.__itemsize__
      and tuple.__itemsize__ > 0 and ssize(id(Plain) + L["object.tp_itemsize"]) == 0)
check("obj.list_item", ptr(ptr(id(lst) + L["obj.list_item"])) == id(lst[0]))
tup = (object(), 1)
check("obj.tuple_item", ptr(id(tup) + L["obj.tuple_item"]) == id(tup[0]))
fl = float("1.25")
check("obj.float_fval", ctypes.c_double.from_address(id(fl) + L["obj.float_fval"]).value == 1.25)
check("obj.module_dict", ptr(id(sys) + L["obj.module_dict"]) == id(sys.__dict__))
def make_cell():
    held = object()
    def inner():
        return held
    return inner
cell = (getattr(make_cell(), "__closure__", None) or make_cell().func_closure)[0]
check("obj.cell_ref", ptr(id(cell) + L["obj.cell_ref"]) == id(cell.cell_contents))
st = set([101, 102, 103])
check("obj.set_used", ssize(id(st) + L["obj.set_used"]) == 3)
check("obj.set_mask", ssize(id(st) + L["obj.set_mask"]) == 7)
table = ptr(id(st) + L["obj.set_table"])
keys = [ptr(table + 16 * i + L["obj.set_entry_key"]) for i in range(8)]
check("obj.set_table", all(id(k) in keys for k in st))

bits = getattr(sys, "int_info", None) or sys.long_info
bits = bits.bits_per_digit
check("obj.digit_bits", bits == L["obj.digit_bits"])
big = (1 << 40) + 5
if V < (3, 0):
    big = long(big)
    check("obj.int27_ival", ctypes.c_long.from_address(id(123457) + L["obj.int27_ival"]).value
          == 123457)
ndigits = (big.bit_length() + bits - 1) // bits
size = ssize(id(big) + L["obj.long_size"])
want = ndigits << 3 if L["obj.long_tagged"] else ndigits
check("obj.long_size", size == want, "%d vs %d" % (size, want))
digit = ctypes.c_uint32.from_address(id(big) + L["obj.long_digit"]).value
check("obj.long_digit", digit == big & ((1 << bits) - 1))

# Strings.
if has("unicode.length"):
    s = "".join(["abc", "def"])
    st = ctypes.c_uint32.from_address(id(s) + L["unicode.state"]).value
    check("unicode.length", ssize(id(s) + L["unicode.length"]) == 6)
    K, C, A = L["unicode.kind_shift"], L["unicode.compact_shift"], L["unicode.ascii_shift"]
    check("unicode.state", (st >> K) & 7 == 1 and (st >> C) & 1 == 1 and (st >> A) & 1 == 1, st)
    for text, kind in (("f\xfcnf", 1), ("\u51fd\u6570", 2), ("\U0001f600", 4)):
        u = "".join([text, ""]) + text
        st = ctypes.c_uint32.from_address(id(u) + L["unicode.state"]).value
        check("unicode.kind_shift %d" % kind, (st >> K) & 7 == kind and (st >> C) & 1 == 1 and
              (st >> A) & 1 == 0, st)
    check("unicode.ascii_size", ctypes.string_at(id(s) + L["unicode.ascii_size"], 6) == b"abcdef")
    s2 = "".join(["\xe9", "\xe8"])
    check("unicode.compact_size",
          ctypes.string_at(id(s2) + L["unicode.compact_size"], 2) == b"\xe9\xe8")
    b = "".join(["xy", "z"]).encode()
else:
    u = u"".join([u"h\xe9", u"llo"])
    check("bytes.u27_length", ssize(id(u) + L["bytes.u27_length"]) == 5)
    raw = ctypes.string_at(ptr(id(u) + L["bytes.u27_str"]), 5 * L["bytes.u27_unicode_size"])
    check("bytes.u27_str", raw.decode("utf-32-le") == u)
    check("bytes.u27_unicode_size", L["bytes.u27_unicode_size"] == ctypes.sizeof(ctypes.c_wchar))
    b = "".join(["xy", "z"])
check("bytes.ob_sval", ctypes.string_at(id(b) + L["bytes.ob_sval"], 3) == b)

# Dicts.
d = {"alpha": 1, "beta": 2}
check("dict.ma_used", ssize(id(d) + L["dict.ma_used"]) == 2)
if has("dict.ma_version_tag"):
    # A global counter: every change of any dict gives it a new, larger tag.
    vd = {"alpha": 1}
    tag1 = ctypes.c_uint64.from_address(id(vd) + L["dict.ma_version_tag"]).value
    vd["gamma"] = 3
    tag2 = ctypes.c_uint64.from_address(id(vd) + L["dict.ma_version_tag"]).value
    del vd["gamma"]
    tag3 = ctypes.c_uint64.from_address(id(vd) + L["dict.ma_version_tag"]).value
    check("dict.ma_version_tag", tag1 < tag2 < tag3, "%d %d %d" % (tag1, tag2, tag3))
first = [k for k in d][0]
if V < (3, 0):
    tab = ptr(id(d) + L["dict.ma_keys"])
    check("dict.ma_values (ma_mask)", ssize(id(d) + L["dict.ma_values"]) == 7)
    check("dict.ma_keys (ma_table)", any(ptr(tab + 24 * i + 8) == id(first) for i in range(8)))
else:
    keys = ptr(id(d) + L["dict.ma_keys"])
    check("dict.ma_values", ptr(id(d) + L["dict.ma_values"]) == 0)
    check("dict.dk_nentries", ssize(keys + L["dict.dk_nentries"]) == 2)
    if has("dict.dk_kind"):
        check("dict.dk_size", u8(keys + L["dict.dk_size"]) == 3)
        check("dict.dk_log2_index_bytes", u8(keys + L["dict.dk_log2_index_bytes"]) == 3)
        check("dict.dk_kind", u8(keys + L["dict.dk_kind"]) == 1)
        ent = keys + L["dict.dk_indices"] + 8
        check("dict.dk_indices", ptr(ent) == id(first) and ptr(ent + 8) == id(d[first]))
        gd = {1.5: "x"}
        gk = ptr(id(gd) + L["dict.ma_keys"])
        check("dict.dk_kind general", u8(gk + L["dict.dk_kind"]) == 0)
        big = dict((str(i), i) for i in range(20))
        bk = ptr(id(big) + L["dict.ma_keys"])
        check("dict.dk_size (32 slots)", u8(bk + L["dict.dk_size"]) == 5)
        check("dict.dk_log2_index_bytes (32 slots)", u8(bk + L["dict.dk_log2_index_bytes"]) == 5)
    else:
        check("dict.dk_size", ssize(keys + L["dict.dk_size"]) == 8)
        ent = keys + L["dict.dk_indices"] + 8
        check("dict.dk_indices", ptr(ent + 8) == id(first) and ptr(ent + 16) == id(d[first]))

# 2.7 old-style instances and their classes.
if has("obj.inst27_class"):
    class OldStyle:
        pass
    inst = OldStyle()
    check("obj.inst27_class", ptr(id(inst) + L["obj.inst27_class"]) == id(OldStyle))
    check("obj.class27_name", ptr(id(OldStyle) + L["obj.class27_name"]) == id(OldStyle.__name__))

# Instances: split dicts, cached keys and managed (pre-header) dicts.
class Attrs(object):
    def __init__(self):
        self.first = object()
        self.second = 2
if V >= (3, 0):
    a1 = Attrs()
    if V >= (3, 11):
        o = id(a1)
        if L["managed.values_ptr"]:
            vals = ptr(o + L["managed.values_ptr"])
            check("managed.values_ptr", ptr(vals) == id(a1.first))
            check("managed.dict_ptr (before __dict__)", ptr(o + L["managed.dict_ptr"]) == 0)
        elif L["managed.inline_values"]:
            vals = o + Attrs.__basicsize__
            check("managed.inline_values", ptr(vals + L["dict.values_prefix"]) == id(a1.first))
            check("managed.dict_ptr (before __dict__)", ptr(o + L["managed.dict_ptr"]) == 0)
        else:
            word = ptr(o + L["managed.dict_ptr"])
            check("managed.dict_ptr (values - 1)", word & 1 and ptr(word + 1) == id(a1.first))
    a2 = Attrs()
    dd = a2.__dict__
    if V >= (3, 11):
        check("managed.dict_ptr", ptr(id(a2) + L["managed.dict_ptr"]) == id(dd))
    vals = ptr(id(dd) + L["dict.ma_values"])
    check("dict.ma_values (split)", vals and ptr(vals + L["dict.values_prefix"]) == id(a2.first))
    check("object.ht_cached_keys",
          ptr(id(Attrs) + L["object.ht_cached_keys"]) == ptr(id(dd) + L["dict.ma_keys"]))
    if V >= (3, 11):
        # Attributes set in the other order than the shared keys have them:
        # the split dict's insertion order is [1, 0].
        a3 = Attrs.__new__(Attrs)
        a3.second = 5
        a3.first = 6
        vals = ptr(id(a3.__dict__) + L["dict.ma_values"])
        count = u8(vals + L["dict.values_size"])
        limit = u8(vals + L["dict.values_capacity"])
        check("dict.values_size", count == 2, count)
        if L["dict.values_size"] < 0:
            order = [u8(vals + L["dict.values_size"] - 1 - i) for i in range(2)]
            check("dict.values_capacity (prefix size)", limit % 8 == 0 and count + 2 <= limit,
                  limit)
        else:
            start = vals + L["dict.values_prefix"] + limit * ctypes.sizeof(P)
            order = [u8(start + i) for i in range(2)]
            check("dict.values_capacity", 2 <= limit < 64, limit)
            check("dict.values_valid", u8(vals + L["dict.values_valid"]) == 1)
        check("dict.values order", order == [1, 0], order)

# asyncio's objects (3.6+): a task suspended in a chain of two coroutines on a
# future, generators and their suspended frames, weak references, functions,
# methods, slots and a deque. Compiled at run time: 2.7 cannot parse it.
ASYNCIO_CHECKS = """
import asyncio, collections, weakref
def i8(a):
    return ctypes.c_int8.from_address(a).value
loop = asyncio.new_event_loop()
fut = loop.create_future()
async def inner(f):
    await f
async def outer(f):
    await inner(f)
coro = outer(fut)
task = loop.create_task(coro, name="probe-task") if V >= (3, 8) else loop.create_task(coro)
loop.run_until_complete(asyncio.sleep(0))
t = id(task)
check("asyncio.task_coro", ptr(t + L["asyncio.task_coro"]) == id(coro))
check("asyncio.task_fut_waiter", ptr(t + L["asyncio.task_fut_waiter"]) == id(fut))
check("asyncio.fut_loop", ptr(t + L["asyncio.fut_loop"]) == id(loop))
check("asyncio.fut_state (pending)", i32(t + L["asyncio.fut_state"]) == 0)
check("asyncio.task_size", type(task).__basicsize__ == L["asyncio.task_size"])
if has("asyncio.task_name"):
    check("asyncio.task_name", ptr(t + L["asyncio.task_name"]) == id(task.get_name()))
wake = ptr(id(fut) + L["asyncio.fut_callback0"]) if has("asyncio.fut_callback0") else \
    id(fut._callbacks[0])
if has("asyncio.wakeup_task"):
    check("asyncio.wakeup_task", ptr(wake + L["asyncio.wakeup_task"]) == t)
else:
    check("more.cfunc_self (task wakeup)", ptr(wake + L["more.cfunc_self"]) == t)
check("asyncio.fut_callbacks", ptr(id(fut) + L["asyncio.fut_callbacks"]) in (0, id(fut._callbacks)))
done_fut = loop.create_future()
done_fut.set_result(1)
check("asyncio.fut_state (finished)", i32(id(done_fut) + L["asyncio.fut_state"]) == 2)
it = fut.__await__()
check("asyncio.future_iter_future", ptr(id(it) + L["asyncio.future_iter_future"]) == id(fut))
icoro = coro.cr_await
check("gen.gi_qualname", ptr(id(coro) + L["gen.gi_qualname"]) == id(coro.__qualname__))
if has("gen.gi_frame"):
    fr = ptr(id(coro) + L["gen.gi_frame"])
    check("gen.gi_frame", fr == id(coro.cr_frame))
    if has("genframe.f_stacktop"):
        top = ptr(fr + L["genframe.f_stacktop"])
        lasti = i32(fr + L["frame.f_lasti"])
        code = coro.cr_code.co_code
        check("genframe.f_stacktop", top != 0 and ptr(top - 8) == id(icoro))
        check("frame.f_lasti (yield from)", code[lasti + 2] == 72, lasti)
        check("genframe.f_valuestack", ptr(fr + L["genframe.f_valuestack"]) <= top - 8)
    else:
        depth = i32(fr + L["genframe.f_stackdepth"])
        vs = ptr(fr + L["genframe.f_valuestack"])
        check("genframe.f_stackdepth", depth > 0 and ptr(vs + 8 * (depth - 1)) == id(icoro))
        check("genframe.f_state", i8(fr + L["genframe.f_state"]) == -1)
else:
    fr = id(coro) + L["gen.gi_iframe"]
    check("gen.gi_iframe",
          ptr(fr + L["iframe.code"]) & ~L["iframe.ref_tag_bits"] == id(outer.__code__))
    if has("iframe.stacktop"):  # 3.14 keeps a stack pointer instead (not in the table)
        top = i32(fr + L["iframe.stacktop"])
        check("iframe.stacktop (yield from)",
              ptr(fr + L["iframe.localsplus"] + 8 * (top - 1)) == id(icoro))
    # FRAME_SUSPENDED_YIELD_FROM: -1 to 3.14; 3.15 renumbered the states (pycore_frame.h)
    check("gen.gi_frame_state", i8(id(coro) + L["gen.gi_frame_state"]) == (2 if V >= (3, 15) else -1),
          i8(id(coro) + L["gen.gi_frame_state"]))
async def agen():
    yield 1
ag = agen()
asend = ag.asend(None)
check("gen.ags_gen", ptr(id(asend) + L["gen.ags_gen"]) == id(ag))
asend.close()
class Weak(object):
    def meth(self):
        return 1
def gone(ref):
    pass
def gone2(ref):
    pass
obj = Weak()
r1 = weakref.ref(obj, gone)
r2 = weakref.ref(obj, gone2)
check("more.wr_object", ptr(id(r1) + L["more.wr_object"]) == id(obj))
check("more.wr_callback", ptr(id(r1) + L["more.wr_callback"]) == id(gone))
linked = set([ptr(id(r1) + L["more.wr_next"]), ptr(id(r2) + L["more.wr_next"])])
check("more.wr_next", id(r1) in linked or id(r2) in linked)
check("more.tp_weaklistoffset", ssize(id(type(task)) + L["more.tp_weaklistoffset"]) ==
      type(task).__weakrefoffset__)
check("more.tp_mro", ctypes.cast(ptr(id(Weak) + L["more.tp_mro"]), ctypes.py_object).value
      is Weak.__mro__)
check("more.tp_dict", "meth" in ctypes.cast(ptr(id(Weak) + L["more.tp_dict"]),
                                            ctypes.py_object).value)
def with_default(a, b=7):
    return a
check("more.func_defaults", ptr(id(with_default) + L["more.func_defaults"]) ==
      id(with_default.__defaults__))
bound = obj.meth
check("more.method_self", ptr(id(bound) + L["more.method_self"]) == id(obj))
lst = []
app = lst.append
check("more.cfunc_self", ptr(id(app) + L["more.cfunc_self"]) == id(lst))
class Slots(object):
    __slots__ = ("first", "second")
s = Slots()
s.second = obj
member = ptr(id(Slots.__dict__["second"]) + L["more.member_def"])
off = ssize(member + L["more.member_offset"])
check("more.member_offset", ptr(id(s) + off) == id(obj), off)
d = collections.deque()
s0 = ctypes.c_size_t.from_address(id(d) + L["asyncio.deque_state"]).value
d.append(1)
d.append(2)
d.popleft()
s1 = ctypes.c_size_t.from_address(id(d) + L["asyncio.deque_state"]).value
check("asyncio.deque_state", s1 == s0 + 3, "%d %d" % (s0, s1))
fut.set_result(None)
loop.run_until_complete(task)
loop.close()
"""
if V >= (3, 6):
    exec(ASYNCIO_CHECKS, globals())

# 3.13+: _Py_DebugOffsets in the live _PyRuntime says the same.
if IN.get("debug"):
    D = IN["debug"]
    rt = ctypes.addressof(ctypes.c_char.in_dll(api, "_PyRuntime"))
    check("debug.cookie", ctypes.string_at(rt + D["cookie"], 8) == D["cookie_value"].encode())
    check("debug.version", ctypes.c_uint64.from_address(rt + D["version"]).value == sys.hexversion)
    check("debug.free_threaded",
          ctypes.c_uint64.from_address(rt + D["free_threaded"]).value == (1 if FT else 0))
    for field, at, base, size, zero_absent in D["entries"]:
        value = ctypes.c_uint64.from_address(rt + at).value
        if zero_absent and value == 0 and L[field] is None:
            continue  # a default build has no thread-local bytecode
        if base is not None:
            value -= ctypes.c_uint64.from_address(rt + base).value
        check("debug " + field, value == L[field], "%d vs %s" % (value, L[field]))
        if size is not None:
            whole = ctypes.c_uint64.from_address(rt + size).value
            check("debug size " + field, value <= whole, "%d of %d" % (value, whole))

sys.stdout.write("python %d.%d.%d%s\n" % (sys.version_info[:3] + ("t" if FT else "",)))
for name, ok, detail in results:
    sys.stdout.write("%s %s %s\n" % ("ok" if ok else "FAIL", name, detail))
'''


def debug_entries(version, values):
    """(layout field, offset, base offset, group size offset, zero means
    absent) for each member of version's _Py_DebugOffsets we use."""
    out = []
    for field, member, base in debug_offsets_of(version):
        size = debug_group_size(member)
        out.append((field, values["debug." + member], values["debug." + base] if base else None,
                    values["debug." + size] if size else None, member in DEBUG_ZERO_ABSENT))
    return out


def verify_live(version, ft, exe, values):
    """Runs the checker in exe; returns the list of failure lines."""
    layout = {}
    for name, _ in FIELDS:
        layout[name] = values.get(name)
    request = {"version": list(version), "free_threaded": ft, "layout": layout}
    if version in DEBUG_VERSIONS:
        request["debug"] = {"cookie": values["debug.cookie"], "version": values["debug.version"],
                            "free_threaded": values["debug.free_threaded"],
                            "cookie_value": values["debug.cookie_value"],
                            "entries": debug_entries(version, values)}
    res = subprocess.run([exe, "-c", CHECKER], input=json.dumps(request), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True)
    lines = res.stdout.splitlines()
    seen = [l.split(" ", 1)[1] for l in lines if l.startswith("python ")]
    oks = [l for l in lines if l.startswith("ok ")]
    bad = [l for l in lines if not l.startswith("ok ") and not l.startswith("python ")]
    if res.returncode != 0:
        bad.append("checker exited with %d" % res.returncode)
    return oks, bad, seen[0] if seen else None


# ---------------------------------------------------------------------------
# Writing layouts.c

HEADER = """\
/*
 * layouts.c - where CPython %(first)s - %(last)s keep things: one struct py_layout each
 * (and one per free-threaded build: %(ft)s).
 *
 * Generated by tools/gen_layouts.py from CPython's headers; do not edit by hand.
 * Each value is an offsetof()/sizeof() compiled against the headers of:
%(sources)s *
 * and checked against the running interpreters named in each entry's .tested
 * through ctypes (an entry whose .tested is "" was never run here). Some
 * structs are not installed by some versions; the tool carries their
 * definitions: PyDictKeysObject before 3.11 (Objects/dict-common.h),
 * PyModuleObject before 3.10 (Objects/moduleobject.c, md_dict right after the
 * object head), and for asyncio (3.6+) TaskObj, FutureIter and
 * TaskWakeupMethWrapper (Modules/_asynciomodule.c), async_generator_asend
 * (Objects/genobject.c) and collections.deque (Modules/_collectionsmodule.c):
 * tools/gen_layouts.py's asyncio_structs() says where each comes from, and its
 * live check builds a suspended task, generators, weak references, slots and a
 * deque to confirm them.
 *
 * Managed dicts (3.11+) sit before the object: 3.11 keeps the values pointer
 * at managed.values_ptr and the dict at managed.dict_ptr; 3.12 keeps one word
 * at managed.dict_ptr that is a dict, or values | 1; 3.13+ keeps the dict at
 * managed.dict_ptr and the values inline at tp_basicsize (if the type has
 * Py_TPFLAGS_INLINE_VALUES), with dict.values_prefix bytes before values[].
 */
#include "python/layout.h"

#include <stdio.h>
#include <string.h>
"""

FOOTER = """\
static const struct py_layout *const layouts[] = {
%(list)s};

#define LAYOUT_COUNT (sizeof(layouts) / sizeof(layouts[0]))

const struct py_layout *layout_find_build(int major, int minor, int free_threaded)
{
    for (size_t i = 0; i < LAYOUT_COUNT; i++) {
        if (layouts[i]->major == major && layouts[i]->minor == minor &&
            layouts[i]->free_threaded == !!free_threaded)
            return layouts[i];
    }
    return NULL;
}

const struct py_layout *layout_find(int major, int minor)
{
    return layout_find_build(major, minor, 0);
}

const struct py_layout *layout_newest(int free_threaded)
{
    const struct py_layout *best = NULL;
    for (size_t i = 0; i < LAYOUT_COUNT; i++) {
        const struct py_layout *l = layouts[i];
        if (l->free_threaded == !!free_threaded &&
            (!best || l->major > best->major ||
             (l->major == best->major && l->minor > best->minor)))
            best = l;
    }
    return best;
}

/* Appends text to buf (used bytes so far in *used), cutting at the end. */
static void put(char *buf, size_t size, size_t *used, const char *text)
{
    int n = *used < size ? snprintf(buf + *used, size - *used, "%%s", text) : 0;
    if (n > 0)
        *used += (size_t)n;
}

void layout_list_supported(char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return;
    buf[0] = '\\0';
    for (size_t i = 0; i < LAYOUT_COUNT; i++) {
        put(buf, size, &used, i ? ", " : "");
        put(buf, size, &used, layouts[i]->name);
    }
}

void layout_describe_tested(char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return;
    buf[0] = '\\0';
    for (size_t i = 0; i < LAYOUT_COUNT; i++) {
        if (!layouts[i]->tested[0])
            continue;
        size_t n = strlen(layouts[i]->name);
        put(buf, size, &used, "  ");
        put(buf, size, &used, layouts[i]->name);
        put(buf, size, &used, &"       "[n < 6 ? n : 6]); /* to 7 columns */
        put(buf, size, &used, layouts[i]->tested);
        put(buf, size, &used, "\\n");
    }
    int untested = 0;
    for (size_t i = 0; i < LAYOUT_COUNT; i++) {
        if (layouts[i]->tested[0])
            continue;
        put(buf, size, &used, untested++ ? ", " : "  never run here, from headers and offsets only: ");
        put(buf, size, &used, layouts[i]->name);
    }
    if (untested)
        put(buf, size, &used, "\\n");
}
"""

DEBUG_MAP = """\
/* %(major)d.%(minor)d: where _Py_DebugOffsets (at the start of _PyRuntime) keeps values
 * our table also has, as compiled against %(source)s's headers. */
static const struct py_debug_offset debug_entries_%(ident)s[] = {
%(entries)s};

static const struct py_debug_offsets_map debug_map_%(ident)s = {
    .major = %(major)d,
    .minor = %(minor)d,
    .cookie = "%(cookie_value)s",
    .cookie_offset = %(cookie)d,
    .version_offset = %(version)d,
    .free_threaded_offset = %(free_threaded)d,
    .size = %(size)d,
    .count = sizeof(debug_entries_%(ident)s) / sizeof(debug_entries_%(ident)s[0]),
    .entries = debug_entries_%(ident)s,
};
"""

DEBUG_FOOTER = """\
static const struct py_debug_offsets_map *const debug_maps[] = {
%(list)s};

#define DEBUG_MAP_COUNT (sizeof(debug_maps) / sizeof(debug_maps[0]))

const struct py_debug_offsets_map *layout_debug_offsets(int major, int minor)
{
    for (size_t i = 0; i < DEBUG_MAP_COUNT; i++) {
        if (debug_maps[i]->major == major && debug_maps[i]->minor == minor)
            return debug_maps[i];
    }
    return NULL;
}

const struct py_debug_offsets_map *layout_debug_offsets_newest(void)
{
    return debug_maps[DEBUG_MAP_COUNT - 1];
}
"""


def c_value(name, value):
    if value is None:
        return "0" if name in SIGNED else "PY_NO_FIELD"
    return str(value)


def c_ident(name):
    return name.replace(".", "_")


def emit_layout(name, values, tested):
    version, ft = config(name)
    lines = ["static const struct py_layout layout_%s = {" % c_ident(name),
             "    .major = %d," % version[0], "    .minor = %d," % version[1],
             "    .free_threaded = %d," % ft, '    .name = "%s",' % name,
             '    .tested = "%s",' % tested]
    for field, choices in KINDS:
        lines.append("    .%s = %s," % (field, pick(choices, version, ft)))
    for field, _ in FIELDS:
        lines.append("    .%s = %s," % (field, c_value(field, values.get(field))))
    lines.append("};")
    return "\n".join(lines) + "\n"


def emit_debug_map(version, values, source):
    entries = ""
    for field, at, base, size, zero_absent in debug_entries(version, values):
        member = [m for f, m, _ in DEBUG_OFFSETS if f == field][0]
        entries += ('    {"%s", %d, %s, %s, offsetof(struct py_layout, %s), %d},\n'
                    % (member, at, "PY_NO_FIELD" if base is None else base,
                       "PY_NO_FIELD" if size is None else size, field, zero_absent))
    return DEBUG_MAP % dict(values_for_debug(values), entries=entries, source=source,
                            major=version[0], minor=version[1], ident="%d%d" % version)


def emit(tables, found, tested):
    names = [n for n in SUPPORTED if n in tables]
    sources = "".join(" *   %s: %s\n" % (n, found[n].label) for n in names)
    plain = [n for n in names if not config(n)[1]]
    text = HEADER % {"first": plain[0], "last": plain[-1], "sources": sources,
                     "ft": ", ".join(n for n in names if config(n)[1])}
    for name in names:
        text += "\n" + emit_layout(name, tables[name], tested.get(name, ""))
    text += "\n" + FOOTER % {"list": "".join("    &layout_%s,\n" % c_ident(n) for n in names)}
    maps = []
    for version in DEBUG_VERSIONS:
        name = config_name(version, False)
        if name in tables:
            text += "\n" + emit_debug_map(version, tables[name], found[name].label)
            maps.append("    &debug_map_%d%d,\n" % version)
    text += "\n" + DEBUG_FOOTER % {"list": "".join(maps)}
    return text


def values_for_debug(values):
    return {"cookie": values["debug.cookie"], "version": values["debug.version"],
            "free_threaded": values["debug.free_threaded"], "size": values["debug.sizeof"],
            "cookie_value": values["debug.cookie_value"]}


def clang_format(text):
    """Formats text with the repo's .clang-format, so regenerating is stable."""
    exe = shutil.which("clang-format")
    if not exe:
        sys.stderr.write("gen_layouts: clang-format not found; output left unformatted\n")
        return text
    res = subprocess.run([exe, "--style=file", "--assume-filename=" + OUTPUT], input=text,
                         stdout=subprocess.PIPE, universal_newlines=True, check=True, cwd=ROOT)
    return res.stdout


def compare(name, include_dir, reference, cflags=()):
    version, ft = config(name)
    with tempfile.TemporaryDirectory() as work:
        other = run_probe(version, ft, include_dirs_for(include_dir), work, cflags)
    diffs = 0
    for field in sorted(set(other) | set(reference)):
        if other.get(field) != reference.get(field):
            print("  %-36s %s: %s  table: %s" % (field, include_dir, other.get(field),
                                                  reference.get(field)))
            diffs += 1
    print("%s: %s vs the table: %d field(s) differ (of %d)"
          % (name, include_dir, diffs, len(reference)))
    return diffs


def key_value(text, what):
    if "=" not in text:
        sys.exit("gen_layouts: %s wants CONFIG=..., not %r" % (what, text))
    return text.split("=", 1)


def add_options(found, args):
    """--headers CONFIG=DIR and --live CONFIG=HOW=PYTHON."""
    for item in args.headers:
        name, include = key_value(item, "--headers")
        lives = found[name].lives if name in found else []
        found[name] = Source(os.path.basename(include.rstrip("/")), include, lives=lives)
    for item in args.live:
        name, rest = key_value(item, "--live")
        how, exe = key_value(rest, "--live")
        if name not in found:
            sys.exit("gen_layouts: --live %s: no headers for %s (give --headers)" % (item, name))
        found[name].lives.append((how, exe))


def run_checks(tables, runs):
    """Runs the live checker for each (config, how, python); returns the number
    of failures and {config: "how X.Y.Z; ..."} of the interpreters that passed."""
    failed, tested = 0, {}
    for name, how, exe in runs:
        version, ft = config(name)
        oks, bad, seen = verify_live(version, ft, exe, tables[name])
        print("%s %s: %d checks passed%s" % (name, exe, len(oks),
                                             ", %d failed" % len(bad) if bad else ""))
        for line in bad:
            print("    " + line)
        failed += len(bad)
        if not bad and seen:
            label = "%s %s" % (how, seen)
            tested[name] = tested[name] + ", " + label if name in tested else label
    return failed, tested


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pyenv", default=PYENV, help="directory of X.Y.Z interpreters")
    ap.add_argument("--check", action="store_true", help="probe and verify; write nothing")
    ap.add_argument("--no-verify", action="store_true", help="skip the live ctypes check")
    ap.add_argument("--compare", nargs=2, metavar=("X.Y", "INCLUDE_DIR"),
                    help="probe another header tree and print how it differs")
    ap.add_argument("--verify-with", metavar="PYTHON",
                    help="run the live check in another interpreter of a supported version")
    ap.add_argument("--headers", action="append", default=[], metavar="CONFIG=DIR",
                    help="the include dir for a configuration (3.15, 3.14t)")
    ap.add_argument("--live", action="append", default=[], metavar="CONFIG=HOW=PYTHON",
                    help="also check this interpreter live; HOW says where it comes from")
    ap.add_argument("-o", "--output", default=OUTPUT)
    args = ap.parse_args()

    found = find_interpreters(args.pyenv)
    add_options(found, args)
    derive_free_threaded(found)
    missing = [v for v in SUPPORTED if v not in found]
    if missing:
        sys.exit("gen_layouts: no headers for %s under %s (tools/sid_pythons.sh --dev installs "
                 "Debian's 3.14 and 3.15; tools/build_python.sh builds one; or give --headers)"
                 % (", ".join(missing), args.pyenv))
    tables = {}
    with tempfile.TemporaryDirectory() as work:
        for name in SUPPORTED:
            version, ft = config(name)
            src = found[name]
            tables[name] = run_probe(version, ft, include_dirs_for(src.include), work, src.cflags)

    if args.compare:
        name = args.compare[0]
        return 1 if compare(name, args.compare[1], tables[name], found[name].cflags) else 0

    runs = [] if args.no_verify else [(n, how, exe) for n in SUPPORTED for how, exe in found[n].lives]
    if args.verify_with:
        out = subprocess.check_output([args.verify_with, "-c", "import sys; print('%d.%d%s' % ("
                                       "sys.version_info[:2] + ('t' if not getattr(sys, "
                                       "'_is_gil_enabled', lambda: 1)() or "
                                       "__import__('sysconfig').get_config_var('Py_GIL_DISABLED')"
                                       " else '',)))"])
        runs = [(out.decode().strip(), "given", args.verify_with)]
    failed, tested = run_checks(tables, runs)
    if failed:
        sys.exit("gen_layouts: live check failed; %s not written" % args.output)
    if args.check or args.verify_with:
        return 0
    text = clang_format(emit(tables, found, tested))
    with open(args.output, "w") as f:
        f.write(text)
    print("wrote %s" % os.path.relpath(args.output, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
