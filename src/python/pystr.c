/*
 * pystr.c - decoding the string representations CPython uses.
 *
 * 3.x (PEP 393): a compact ASCII string keeps its bytes right after the
 * PyASCIIObject header; other compact strings keep 1, 2 or 4 bytes per code
 * point after the PyCompactUnicodeObject header. The "kind", "compact" and
 * "ascii" bits sit in the state word at positions the layout gives (2, 5, 6
 * through 3.15; 8, 11, 12 in free-threaded 3.14t+, whose interned flag is a
 * byte of its own). Non-compact (legacy) strings keep a data pointer in
 * PyUnicodeObject right after the compact header.
 *
 * 2.7: str is a byte string (PyStringObject); unicode is a Py_UNICODE array
 * (UCS-4 in the builds we support) behind a pointer.
 */
#include "python/pystr.h"

#include <stdlib.h>
#include <string.h>

#include "util/utf8.h"
#include "util/util.h"

int pystr_put_utf8(char *out, size_t size, size_t *pos, uint32_t cp)
{
    unsigned char tmp[4];
    size_t n = utf8_encode(cp, tmp);
    if (*pos + n >= size)
        return 0;
    memcpy(out + *pos, tmp, n);
    *pos += n;
    return 1;
}

/* Converts count code points of width `kind` bytes from raw into UTF-8. */
static void decode_units(const uint8_t *raw, size_t count, unsigned kind, char *out, size_t size)
{
    size_t pos = 0;
    for (size_t i = 0; i < count; i++) {
        uint32_t cp;
        if (kind == 1) {
            cp = raw[i];
        } else if (kind == 2) {
            uint16_t u;
            memcpy(&u, raw + 2 * i, 2);
            cp = u;
        } else {
            memcpy(&cp, raw + 4 * i, 4);
        }
        if (!pystr_put_utf8(out, size, &pos, cp))
            break;
    }
    out[pos] = '\0';
}

/* Reads count units of width kind at data and decodes them into out. */
static int read_units(struct mem_reader *r, uint64_t data, size_t count, unsigned kind, char *out,
                      size_t size)
{
    if (count > PYSTR_MAX_CHARS)
        count = PYSTR_MAX_CHARS;
    /* No need to read more code points than can fit in out. */
    if (count > size)
        count = size;
    uint8_t *raw = xmalloc(count * kind + 1);
    int err = mem_read(r, data, raw, count * kind);
    if (!err)
        decode_units(raw, count, kind, out, size);
    free(raw);
    return err;
}

static int read_str3(struct mem_reader *r, const struct py_layout *l, uint64_t addr, char *out,
                     size_t size)
{
    int64_t length;
    uint32_t state;
    int err = mem_read(r, addr + l->unicode.length, &length, sizeof(length));
    if (!err)
        err = mem_read_u32(r, addr + l->unicode.state, &state);
    if (err)
        return err;
    if (length < 0 || length > (int64_t)1 << 40)
        return -SG_ECORRUPT;
    unsigned kind = layout_str_kind(l, state);
    unsigned compact = layout_str_compact(l, state);
    unsigned ascii = layout_str_ascii(l, state);
    if (kind != 1 && kind != 2 && kind != 4)
        return -SG_ECORRUPT;
    uint64_t data;
    if (compact && ascii) {
        data = addr + l->unicode.ascii_size;
    } else if (compact) {
        data = addr + l->unicode.compact_size;
    } else {
        err = mem_read_u64(r, addr + l->unicode.compact_size, &data);
        if (err)
            return err;
    }
    return read_units(r, data, (size_t)length, kind, out, size);
}

static int read_str27(struct mem_reader *r, const struct py_layout *l, uint64_t addr, char *out,
                      size_t size)
{
    /* Tell str from unicode by the type name. */
    uint64_t type, name_ptr;
    char tname[16];
    int err = mem_read_u64(r, addr + l->object.ob_type, &type);
    if (!err)
        err = mem_read_u64(r, type + l->object.tp_name, &name_ptr);
    if (!err)
        err = mem_read_cstr(r, name_ptr, tname, sizeof(tname));
    if (err)
        return err;
    if (strcmp(tname, "unicode") == 0) {
        int64_t length;
        uint64_t data;
        err = mem_read(r, addr + l->bytes.u27_length, &length, sizeof(length));
        if (!err)
            err = mem_read_u64(r, addr + l->bytes.u27_str, &data);
        if (err)
            return err;
        if (length < 0)
            return -SG_ECORRUPT;
        return read_units(r, data, (size_t)length, l->bytes.u27_unicode_size, out, size);
    }
    if (strcmp(tname, "str") != 0)
        return -SG_ECORRUPT;
    uint8_t *bytes;
    size_t len;
    err = pystr_read_bytes(r, l, addr, size - 1, &bytes, &len);
    if (err)
        return err;
    /* 2.7 byte strings (file names, identifiers) are usually UTF-8: keep
     * them as they are when valid, else show them as Latin-1. */
    if (utf8_valid(bytes, len))
        memcpy(out, bytes, len + 1);
    else
        decode_units(bytes, len, 1, out, size);
    free(bytes);
    return 0;
}

int pystr_read(struct mem_reader *r, const struct py_layout *l, uint64_t addr, char *out,
               size_t size)
{
    if (size == 0)
        return -SG_ENOMEM;
    out[0] = '\0';
    if (addr == 0)
        return -SG_ECORRUPT;
    if (l->string_kind == PY_STR_27)
        return read_str27(r, l, addr, out, size);
    return read_str3(r, l, addr, out, size);
}

int pystr_read_bytes(struct mem_reader *r, const struct py_layout *l, uint64_t addr, size_t max_len,
                     uint8_t **data, size_t *len)
{
    int64_t size;
    *data = NULL;
    *len = 0;
    int err = mem_read(r, addr + l->object.ob_size, &size, sizeof(size));
    if (err)
        return err;
    if (size < 0 || size > (int64_t)1 << 40)
        return -SG_ECORRUPT;
    size_t n = (size_t)size < max_len ? (size_t)size : max_len;
    uint8_t *buf = xmalloc(n + 1);
    err = mem_read(r, addr + l->bytes.ob_sval, buf, n);
    if (err) {
        free(buf);
        return err;
    }
    buf[n] = 0;
    *data = buf;
    *len = n;
    return 0;
}
