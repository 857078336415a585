#!/usr/bin/env python3
"""gen_layouts.py - generate src/python/layouts.c from CPython's own headers.

For every interpreter under ~/.pyenv/versions (one per supported minor version)
this writes a small C probe that includes that version's headers, compiles it
with gcc, runs it and collects offsetof()/sizeof() values for every field of
struct py_layout (src/python/layout.h). Before anything is written, each
interpreter is started with a checker that reads its own live objects through
ctypes and confirms the offsets (the table is only as good as that check).

    /usr/bin/python3 tools/gen_layouts.py              regenerate src/python/layouts.c
    /usr/bin/python3 tools/gen_layouts.py --check      probe and verify, write nothing
    /usr/bin/python3 tools/gen_layouts.py --compare 3.11 /usr/include/python3.11
                                                       probe other headers (e.g. a distro's)
                                                       and print where they differ
    /usr/bin/python3 tools/gen_layouts.py --verify-with /usr/bin/python3.11
                                                       run the live checker in another build

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
SUPPORTED = ["2.7", "3.6", "3.7", "3.8", "3.9", "3.10", "3.11", "3.12", "3.13"]


def vt(text):
    """'3.10' -> (3, 10)."""
    major, minor = text.split(".")[:2]
    return (int(major), int(minor))


def on(lo, hi, value):
    """A value used for versions lo..hi inclusive (None: open-ended)."""
    return (vt(lo) if lo else None, vt(hi) if hi else None, value)


def pick(choices, version):
    for lo, hi, value in choices:
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

    ("cframe.current_frame", [on("3.11", "3.12", "offsetof(_PyCFrame, current_frame)")]),

    ("gil.last_holder", [on("3.7", None, "offsetof(struct _gil_runtime_state, last_holder)")]),
    ("gil.locked", [on("3.7", None, "offsetof(struct _gil_runtime_state, locked)")]),

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
    ("iframe.stacktop", [on("3.11", None, "offsetof(_PyInterpreterFrame, stacktop)")]),

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
    ("dict.ma_version_tag", [on("3.6", None, "offsetof(PyDictObject, ma_version_tag)")]),
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

# Fields whose "absent" value is 0 rather than PY_NO_FIELD (flags and signed
# pre-header offsets); they always have a rule above.
SIGNED = {"managed.dict_ptr", "managed.values_ptr", "dict.values_capacity", "dict.values_size"}

# ---------------------------------------------------------------------------
# 3.13: where _Py_DebugOffsets (the first member of _PyRuntime) keeps the same
# values. (layout field, _Py_DebugOffsets member, member subtracted first).
# The GIL members are offsets within PyInterpreterState of the embedded _gil;
# our gil.* are within struct _gil_runtime_state, hence the base.

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
]
DEBUG_HEADER = ["cookie", "version", "free_threaded"]
DEBUG_VERSION = (3, 13)

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
        gave the same offsets as this probe);
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
    if version >= (3, 13):  # no dict or weakref list any more: both are managed
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


def probe_source(version):
    core, includes, extra = probe_headers(version)
    out = ["/* probe for CPython %d.%d, written by tools/gen_layouts.py */" % version,
           "#define NDEBUG 1 /* release builds; assert()s in inline helpers go */"]
    if core:
        out.append("#define Py_BUILD_CORE 1")
    out += ['#include "%s"' % h for h in includes]
    out += ["#include <stddef.h>", "#include <stdio.h>", extra]
    out.append("static void *sg_buf[64];")
    out.append("int main(void)\n{")
    out.append("    PyObject *sg_obj = (PyObject *)&sg_buf[32];")
    out.append("    (void)sg_obj;")
    for name, choices in FIELDS:
        expr = pick(choices, version)
        if expr is not None:
            out.append('    printf("%%s %%lld\\n", "%s", (long long)(%s));' % (name, expr))
    if version == DEBUG_VERSION:
        for member in DEBUG_HEADER:
            out.append('    printf("%%s %%lld\\n", "debug.%s", (long long)offsetof(_Py_DebugOffsets, %s));'
                       % (member, member))
        out.append('    printf("debug.sizeof %lld\\n", (long long)sizeof(_Py_DebugOffsets));')
        members = set()
        for _, member, base in DEBUG_OFFSETS:
            members.add(member)
            if base:
                members.add(base)
        for member in sorted(members):
            out.append('    printf("%%s %%lld\\n", "debug.%s", (long long)offsetof(_Py_DebugOffsets, %s));'
                       % (member, member))
        out.append('    printf("debug.cookie_value %s\\n", _Py_Debug_Cookie);')
    out.append("    return 0;\n}")
    return "\n".join(out) + "\n"


def run_probe(version, include_dirs, workdir):
    """Compiles and runs the probe; returns {name: value}."""
    src = os.path.join(workdir, "probe_%d_%d.c" % version)
    exe = src[:-2]
    with open(src, "w") as f:
        f.write(probe_source(version))
    cmd = ["gcc", "-std=gnu11", "-O0", "-o", exe, src]
    for d in include_dirs:
        cmd += ["-I", d]
    res = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True)
    if res.returncode != 0:
        sys.exit("gen_layouts: the %d.%d probe does not compile:\n%s" % (version + (res.stdout,)))
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
    if not os.path.exists(os.path.join(path, "pyconfig.h")):
        name = os.path.basename(path.rstrip("/"))
        dirs += glob.glob(os.path.join(os.path.dirname(path.rstrip("/")), "*", name))
    return dirs


def find_interpreters(root):
    """Returns {(major, minor): (micro version string, include dir, python exe)}."""
    found = {}
    for prefix in sorted(glob.glob(os.path.join(root, "*"))):
        m = re.match(r"^(\d+)\.(\d+)\.(\d+)$", os.path.basename(prefix))
        if not m:
            continue
        version = (int(m.group(1)), int(m.group(2)))
        incs = glob.glob(os.path.join(prefix, "include", "python%d.%d*" % version))
        exe = os.path.join(prefix, "bin", "python%d.%d" % version)
        if incs and os.path.exists(exe):
            found[version] = (os.path.basename(prefix), incs[0], exe)
    return found


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
    ready.set()
    done.wait()
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
    check("gil.locked", i32(gil + L["gil.locked"]) == 1)
    check("gil.last_holder", ptr(gil + L["gil.last_holder"]) == tstate)
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
    check("iframe.code", ptr(fr + L["iframe.code"]) == id(code))
    check("iframe.localsplus", ptr(fr + L["iframe.localsplus"]) == id(marker))
    check("iframe.owner", u8(fr + L["iframe.owner"]) == 0)
    prev = ptr(fr + L["iframe.previous"])
    check("iframe.previous", ptr(prev + L["iframe.code"]) == id(back.f_code))
    start = id(back.f_code) + L["code.co_code_adaptive"]
    lasti = ptr(prev + L["iframe.instr"]) - start
    check("iframe.instr", lasti == back.f_lasti, "%d vs %d" % (lasti, back.f_lasti))
    bc = back.f_code
    nlocalsplus = len(bc.co_varnames) + len(bc.co_cellvars) + len(bc.co_freevars)
    top = i32(prev + L["iframe.stacktop"])
    check("iframe.stacktop", nlocalsplus <= top <= nlocalsplus + bc.co_stacksize,
          "%d (nlocalsplus %d)" % (top, nlocalsplus))
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
    put a C-stack shim frame, owner 3, below it)."""
    last = fr
    while fr:
        if u8(fr + L["iframe.owner"]) != 3:
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
    check("unicode.state", (st >> 2) & 7 == 1 and (st >> 5) & 1 == 1 and (st >> 6) & 1 == 1, st)
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
    check("gen.gi_iframe", ptr(fr + L["iframe.code"]) == id(outer.__code__))
    top = i32(fr + L["iframe.stacktop"])
    check("iframe.stacktop (yield from)",
          ptr(fr + L["iframe.localsplus"] + 8 * (top - 1)) == id(icoro))
    check("gen.gi_frame_state", i8(id(coro) + L["gen.gi_frame_state"]) == -1)
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

# 3.13: _Py_DebugOffsets in the live _PyRuntime says the same.
if IN.get("debug"):
    D = IN["debug"]
    rt = ctypes.addressof(ctypes.c_char.in_dll(api, "_PyRuntime"))
    check("debug.cookie", ctypes.string_at(rt + D["cookie"], 8) == D["cookie_value"].encode())
    check("debug.version", ctypes.c_uint64.from_address(rt + D["version"]).value == sys.hexversion)
    check("debug.free_threaded", ctypes.c_uint64.from_address(rt + D["free_threaded"]).value == 0)
    for field, at, base in D["entries"]:
        value = ctypes.c_uint64.from_address(rt + at).value
        if base is not None:
            value -= ctypes.c_uint64.from_address(rt + base).value
        check("debug " + field, value == L[field], "%d vs %d" % (value, L[field]))

for name, ok, detail in results:
    sys.stdout.write("%s %s %s\n" % ("ok" if ok else "FAIL", name, detail))
'''


def debug_entries(values):
    out = []
    for field, member, base in DEBUG_OFFSETS:
        out.append((field, values["debug." + member], values["debug." + base] if base else None))
    return out


def verify_live(version, exe, values):
    """Runs the checker in exe; returns the list of failure lines."""
    layout = {}
    for name, _ in FIELDS:
        layout[name] = values.get(name)
    request = {"version": list(version), "layout": layout}
    if version == DEBUG_VERSION:
        request["debug"] = {"cookie": values["debug.cookie"], "version": values["debug.version"],
                            "free_threaded": values["debug.free_threaded"],
                            "cookie_value": values["debug.cookie_value"],
                            "entries": debug_entries(values)}
    res = subprocess.run([exe, "-c", CHECKER], input=json.dumps(request), stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, universal_newlines=True)
    lines = res.stdout.splitlines()
    oks = [l for l in lines if l.startswith("ok ")]
    bad = [l for l in lines if not l.startswith("ok ")]
    if res.returncode != 0:
        bad.append("checker exited with %d" % res.returncode)
    return oks, bad


# ---------------------------------------------------------------------------
# Writing layouts.c

HEADER = """\
/*
 * layouts.c - where CPython %(first)s - %(last)s keep things: one struct py_layout each.
 *
 * Generated by tools/gen_layouts.py from CPython's headers; do not edit by hand.
 * Each value is an offsetof()/sizeof() compiled against the headers of:
%(sources)s *
 * and checked against the running interpreter through ctypes. Some structs are
 * not installed by some versions; the tool carries their definitions:
 * PyDictKeysObject before 3.11 (Objects/dict-common.h), PyModuleObject
 * before 3.10 (Objects/moduleobject.c, md_dict right after the object head),
 * and for asyncio (3.6+) TaskObj, FutureIter and TaskWakeupMethWrapper
 * (Modules/_asynciomodule.c), async_generator_asend (Objects/genobject.c) and
 * collections.deque (Modules/_collectionsmodule.c): tools/gen_layouts.py's
 * asyncio_structs() says where each comes from, and its live check builds a
 * suspended task, generators, weak references, slots and a deque to confirm them.
 *
 * Managed dicts (3.11+) sit before the object: 3.11 keeps the values pointer
 * at managed.values_ptr and the dict at managed.dict_ptr; 3.12 keeps one word
 * at managed.dict_ptr that is a dict, or values | 1; 3.13 keeps the dict at
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

const struct py_layout *layout_find(int major, int minor)
{
    for (size_t i = 0; i < LAYOUT_COUNT; i++) {
        if (layouts[i]->major == major && layouts[i]->minor == minor)
            return layouts[i];
    }
    return NULL;
}

void layout_list_supported(char *buf, size_t size)
{
    size_t used = 0;
    if (size == 0)
        return;
    buf[0] = '\\0';
    for (size_t i = 0; i < LAYOUT_COUNT && used < size; i++) {
        int n = snprintf(buf + used, size - used, "%%s%%s", i ? ", " : "", layouts[i]->name);
        if (n < 0)
            return;
        used += (size_t)n;
    }
}
"""

DEBUG_FOOTER = """\
/* 3.13: where _Py_DebugOffsets (at the start of _PyRuntime) keeps values our
 * table also has, as compiled against %(source)s's headers. */
static const struct py_debug_offset debug_entries_313[] = {
%(entries)s};

static const struct py_debug_offsets_map debug_map_313 = {
    .major = %(major)d,
    .minor = %(minor)d,
    .cookie = "%(cookie_value)s",
    .cookie_offset = %(cookie)d,
    .version_offset = %(version)d,
    .free_threaded_offset = %(free_threaded)d,
    .size = %(size)d,
    .count = sizeof(debug_entries_313) / sizeof(debug_entries_313[0]),
    .entries = debug_entries_313,
};

const struct py_debug_offsets_map *layout_debug_offsets_313(void)
{
    return &debug_map_313;
}
"""


def c_value(name, value):
    if value is None:
        return "0" if name in SIGNED else "PY_NO_FIELD"
    return str(value)


def emit_layout(version, values):
    ident = "layout_%d_%d" % version
    lines = ["static const struct py_layout %s = {" % ident,
             "    .major = %d," % version[0], "    .minor = %d," % version[1],
             '    .name = "%d.%d",' % version]
    for field, choices in KINDS:
        lines.append("    .%s = %s," % (field, pick(choices, version)))
    for name, _ in FIELDS:
        lines.append("    .%s = %s," % (name, c_value(name, values.get(name))))
    lines.append("};")
    return "\n".join(lines) + "\n"


def emit(tables, found):
    sources = "".join(" *   %d.%d: %s\n" % (v + (found[v][0],)) for v in sorted(tables))
    first, last = sorted(tables)[0], sorted(tables)[-1]
    text = HEADER % {"first": "%d.%d" % first, "last": "%d.%d" % last, "sources": sources}
    for version in sorted(tables):
        text += "\n" + emit_layout(version, tables[version])
    text += "\n" + FOOTER % {"list": "".join("    &layout_%d_%d,\n" % v for v in sorted(tables))}
    values = tables[DEBUG_VERSION]
    entries = ""
    for field, at, base in debug_entries(values):
        member = [m for f, m, _ in DEBUG_OFFSETS if f == field][0]
        entries += ('    {"%s", %d, %s, offsetof(struct py_layout, %s)},\n'
                    % (member, at, "PY_NO_FIELD" if base is None else base, field))
    text += "\n" + DEBUG_FOOTER % dict(values_for_debug(values), entries=entries,
                                       source=found[DEBUG_VERSION][0],
                                       major=DEBUG_VERSION[0], minor=DEBUG_VERSION[1])
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


def compare(version, include_dir, reference):
    with tempfile.TemporaryDirectory() as work:
        other = run_probe(version, include_dirs_for(include_dir), work)
    diffs = 0
    for name in sorted(set(other) | set(reference)):
        if other.get(name) != reference.get(name):
            print("  %-36s %s: %s  table: %s" % (name, include_dir, other.get(name),
                                                  reference.get(name)))
            diffs += 1
    print("%d.%d: %s vs the table: %d field(s) differ (of %d)"
          % (version + (include_dir, diffs, len(reference))))
    return diffs


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--pyenv", default=PYENV, help="directory of X.Y.Z interpreters")
    ap.add_argument("--check", action="store_true", help="probe and verify; write nothing")
    ap.add_argument("--no-verify", action="store_true", help="skip the live ctypes check")
    ap.add_argument("--compare", nargs=2, metavar=("X.Y", "INCLUDE_DIR"),
                    help="probe another header tree and print how it differs")
    ap.add_argument("--verify-with", metavar="PYTHON",
                    help="run the live check in another interpreter of a supported version")
    ap.add_argument("-o", "--output", default=OUTPUT)
    args = ap.parse_args()

    found = find_interpreters(args.pyenv)
    missing = [v for v in SUPPORTED if vt(v) not in found]
    if missing:
        sys.exit("gen_layouts: no interpreter with headers for %s under %s"
                 % (", ".join(missing), args.pyenv))
    tables = {}
    with tempfile.TemporaryDirectory() as work:
        for text in SUPPORTED:
            version = vt(text)
            tables[version] = run_probe(version, include_dirs_for(found[version][1]), work)

    if args.compare:
        return 1 if compare(vt(args.compare[0]), args.compare[1], tables[vt(args.compare[0])]) else 0

    runs = [] if args.no_verify else [(v, found[v][2]) for v in sorted(tables)]
    if args.verify_with:
        out = subprocess.check_output([args.verify_with, "-c",
                                       "import sys; print('%d.%d' % sys.version_info[:2])"])
        runs = [(vt(out.decode().strip()), args.verify_with)]
    failed = 0
    for version, exe in runs:
        oks, bad = verify_live(version, exe, tables[version])
        print("%d.%d %s: %d checks passed%s" % (version + (exe, len(oks),
                                                          ", %d failed" % len(bad) if bad else "")))
        for line in bad:
            print("    " + line)
        failed += len(bad)
    if failed:
        sys.exit("gen_layouts: live check failed; %s not written" % args.output)
    if args.check or args.verify_with:
        return 0
    text = clang_format(emit(tables, found))
    with open(args.output, "w") as f:
        f.write(text)
    print("wrote %s" % os.path.relpath(args.output, ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
