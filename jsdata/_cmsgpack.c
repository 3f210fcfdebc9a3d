/*
 * jsdata._cmsgpack: msgpack row maps -> Arrow column buffers, in C (the read side of the
 * msgpack codec; the write side is jsdata/frames/msgpack_rows.py).
 *
 * columns(data, offsets, start, stop) reads payloads start..stop-1 of a buffer with int64
 * offsets, each one msgpack map (a row, as publish_dataframe writes it), and returns one
 * tuple per key, in order of first appearance:
 *
 *     (key, kind, null_count, validity, values, offsets)
 *
 * ``validity`` is an Arrow validity bitmap (None when nothing is null), ``values`` and
 * ``offsets`` the Arrow buffers of the column for its kind (the K_ enum below): int64
 * (uint64 when a value is beyond int64 and none is negative), float64 (NaN counts as null,
 * as pandas' from_pandas does), bool (bit-packed), string and binary (int32 offsets), a
 * Timestamp extension (-1) as int64 nanoseconds, or "raw": any
 * other value (arrays, maps, other extensions, or a column whose first value is one), as
 * one msgpack array of the column's values (nil where a row lacks the key) that Python
 * unpacks in one call. A column's kind is fixed by its first non-nil value.
 *
 * It returns None, having built nothing, whenever the rows are not that simple: a payload
 * that is not one map, a key that is not a string, a key twice in a row, a value of
 * another kind than its column's, ints that fit neither int64 nor uint64, a malformed or
 * truncated payload. The caller then decodes the batch row by row (jsdata/frames/rows.py), the pure-Python
 * path that also finds and names what was wrong. String values are not checked for UTF-8
 * here: the caller validates the Arrow array.
 */
#include "_columns.h"
#include <math.h>


static inline uint16_t be16(const unsigned char *p) { return (uint16_t)(p[0] << 8 | p[1]); }
static inline uint32_t be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline uint64_t be64(const unsigned char *p)
{
    return (uint64_t)be32(p) << 32 | be32(p + 4);
}

/* The end of the msgpack value at p (NULL when malformed or truncated), skipping nested
 * arrays and maps with a count of values still to skip (no recursion). */
static const unsigned char *skip(const unsigned char *p, const unsigned char *end)
{
    Py_ssize_t todo = 1;
    while (todo > 0) {
        if (p >= end)
            return NULL;
        unsigned char t = *p++;
        Py_ssize_t body = 0, items = 0;
        if (t <= 0x7f || t >= 0xe0 || t == 0xc0 || t == 0xc2 || t == 0xc3)
            ;
        else if (t >= 0x80 && t <= 0x8f)
            items = 2 * (t & 0x0f);
        else if (t >= 0x90 && t <= 0x9f)
            items = t & 0x0f;
        else if (t >= 0xa0 && t <= 0xbf)
            body = t & 0x1f;
        else {
            Py_ssize_t left = end - p;
            switch (t) {
            case 0xcc: case 0xd0: body = 1; break;
            case 0xcd: case 0xd1: body = 2; break;
            case 0xca: case 0xce: case 0xd2: body = 4; break;
            case 0xcb: case 0xcf: case 0xd3: body = 8; break;
            case 0xd4: body = 2; break;
            case 0xd5: body = 3; break;
            case 0xd6: body = 5; break;
            case 0xd7: body = 9; break;
            case 0xd8: body = 17; break;
            case 0xc4: case 0xd9:
                if (left < 1) return NULL;
                body = 1 + p[0];
                break;
            case 0xc5: case 0xda:
                if (left < 2) return NULL;
                body = 2 + be16(p);
                break;
            case 0xc6: case 0xdb:
                if (left < 4) return NULL;
                body = 4 + (Py_ssize_t)be32(p);
                break;
            case 0xc7:
                if (left < 1) return NULL;
                body = 2 + p[0];
                break;
            case 0xc8:
                if (left < 2) return NULL;
                body = 3 + be16(p);
                break;
            case 0xc9:
                if (left < 4) return NULL;
                body = 5 + (Py_ssize_t)be32(p);
                break;
            case 0xdc:
                if (left < 2) return NULL;
                body = 2;
                items = be16(p);
                break;
            case 0xdd:
                if (left < 4) return NULL;
                body = 4;
                items = (Py_ssize_t)be32(p);
                break;
            case 0xde:
                if (left < 2) return NULL;
                body = 2;
                items = 2 * (Py_ssize_t)be16(p);
                break;
            case 0xdf:
                if (left < 4) return NULL;
                body = 4;
                items = 2 * (Py_ssize_t)be32(p);
                break;
            default:
                return NULL; /* 0xc1: never used */
            }
        }
        if (body > end - p)
            return NULL;
        p += body;
        todo += items - 1;
        if (todo > end - p) /* every value left takes at least a byte */
            return NULL;
    }
    return p;
}

/* A str header at p: sets *s, *n and returns the end, or NULL when not a str. */
static const unsigned char *str_at(const unsigned char *p, const unsigned char *end,
                                   const unsigned char **s, Py_ssize_t *n)
{
    if (p >= end)
        return NULL;
    unsigned char t = *p;
    Py_ssize_t len, head;
    if (t >= 0xa0 && t <= 0xbf) {
        len = t & 0x1f;
        head = 1;
    } else if (t == 0xd9 && end - p >= 2) {
        len = p[1];
        head = 2;
    } else if (t == 0xda && end - p >= 3) {
        len = be16(p + 1);
        head = 3;
    } else if (t == 0xdb && end - p >= 5) {
        len = (Py_ssize_t)be32(p + 1);
        head = 5;
    } else {
        return NULL;
    }
    if (len > end - p - head)
        return NULL;
    *s = p + head;
    *n = len;
    return p + head + len;
}


/* The kind a value starting with type byte t belongs to (K_NONE for nil). */
static int kind_of(const unsigned char *p, const unsigned char *end)
{
    unsigned char t = *p;
    if (t == 0xc0)
        return K_NONE;
    if (t <= 0x7f || t >= 0xe0 || (t >= 0xcc && t <= 0xd3))
        return K_INT;
    if (t == 0xca || t == 0xcb)
        return K_F64;
    if (t == 0xc2 || t == 0xc3)
        return K_BOOL;
    if ((t >= 0xa0 && t <= 0xbf) || (t >= 0xd9 && t <= 0xdb))
        return K_STR;
    if (t >= 0xc4 && t <= 0xc6)
        return K_BIN;
    if (t == 0xd6 && end - p >= 2 && (signed char)p[1] == -1)
        return K_TS;
    if (t == 0xd7 && end - p >= 2 && (signed char)p[1] == -1)
        return K_TS;
    if (t == 0xc7 && end - p >= 3 && p[1] == 12 && (signed char)p[2] == -1)
        return K_TS;
    return K_RAW;
}

/* Append the value at p (of the column's kind) to c; *next gets its end. */
static int col_value(Col *c, const unsigned char *p, const unsigned char *end,
                     const unsigned char **next)
{
    const unsigned char *q = skip(p, end);
    if (!q)
        return BAIL;
    *next = q;
    int kind = kind_of(p, end);
    if (kind == K_NONE)
        return col_null(c) ? NOMEM : 0;
    if (c->kind == K_NONE && col_start(c, kind))
        return NOMEM;
    if (c->kind == K_RAW) {
        if (buf_put(&c->vals, p, q - p))
            return NOMEM;
        c->len++;
        return 0;
    }
    if (kind != c->kind)
        return BAIL;
    Py_ssize_t i = c->len;
    int valid = 1;
    unsigned char t = *p;
    switch (kind) {
    case K_INT: {
        int64_t v;
        if (t <= 0x7f) v = t;
        else if (t >= 0xe0) v = (int8_t)t;
        else switch (t) {
        case 0xcc: v = p[1]; break;
        case 0xcd: v = be16(p + 1); break;
        case 0xce: v = be32(p + 1); break;
        case 0xcf: {
            uint64_t u = be64(p + 1);
            if (u > (uint64_t)INT64_MAX)
                c->big = 1; /* the column becomes uint64, if no value is negative */
            v = (int64_t)u;
            break;
        }
        case 0xd0: v = (int8_t)p[1]; break;
        case 0xd1: v = (int16_t)be16(p + 1); break;
        case 0xd2: v = (int32_t)be32(p + 1); break;
        default: v = (int64_t)be64(p + 1); break;
        }
        if (v < 0 && !(t == 0xcf))
            c->neg = 1;
        if (c->neg && c->big)
            return BAIL; /* fits neither int64 nor uint64: the row path says so */
        if (buf_put(&c->vals, &v, 8))
            return NOMEM;
        break;
    }
    case K_F64: {
        double d;
        if (t == 0xca) {
            uint32_t u = be32(p + 1);
            float f;
            memcpy(&f, &u, 4);
            d = f;
        } else {
            uint64_t u = be64(p + 1);
            memcpy(&d, &u, 8);
        }
        if (isnan(d)) {
            valid = 0;
            d = 0;
        }
        if (buf_put(&c->vals, &d, 8))
            return NOMEM;
        break;
    }
    case K_BOOL:
        if (bits_reserve(&c->vals, i + 1))
            return NOMEM;
        if (t == 0xc3)
            bit_set(&c->vals, i);
        break;
    case K_STR: case K_BIN: {
        Py_ssize_t head = (t >= 0xa0 && t <= 0xbf) ? 1
                          : (t == 0xd9 || t == 0xc4) ? 2
                          : (t == 0xda || t == 0xc5) ? 3 : 5;
        if (c->vals.len + (q - p - head) > INT32_MAX)
            return BAIL;
        if (buf_put(&c->vals, p + head, q - p - head))
            return NOMEM;
        int32_t o = (int32_t)c->vals.len;
        if (buf_put(&c->offs, &o, 4))
            return NOMEM;
        break;
    }
    case K_TS: {
        int64_t sec;
        uint32_t nsec;
        if (t == 0xd6) {
            sec = be32(p + 2);
            nsec = 0;
        } else if (t == 0xd7) {
            uint64_t u = be64(p + 2);
            nsec = (uint32_t)(u >> 34);
            sec = (int64_t)(u & 0x3ffffffffULL);
        } else {
            nsec = be32(p + 3);
            sec = (int64_t)be64(p + 7);
        }
        int64_t ns;
        if (nsec >= 1000000000u || __builtin_mul_overflow(sec, (int64_t)1000000000, &ns) ||
            __builtin_add_overflow(ns, (int64_t)nsec, &ns))
            return BAIL;
        if (buf_put(&c->vals, &ns, 8))
            return NOMEM;
        break;
    }
    }
    if (bits_reserve(&c->valid, i + 1))
        return NOMEM;
    if (valid)
        bit_set(&c->valid, i);
    else
        c->nulls++;
    c->len++;
    return 0;
}

/* Parse payloads into cs: 0, BAIL or NOMEM. */
static int parse_rows(Cols *cs, const unsigned char *d, const int64_t *o, Py_ssize_t start,
                      Py_ssize_t stop)
{
    for (Py_ssize_t r = 0; r < stop - start; r++) {
        const unsigned char *p = d + o[start + r], *end = d + o[start + r + 1];
        if (p >= end)
            return BAIL;
        unsigned char t = *p++;
        Py_ssize_t nkeys;
        if (t >= 0x80 && t <= 0x8f) {
            nkeys = t & 0x0f;
        } else if (t == 0xde && end - p >= 2) {
            nkeys = be16(p);
            p += 2;
        } else if (t == 0xdf && end - p >= 4) {
            nkeys = (Py_ssize_t)be32(p);
            p += 4;
        } else {
            return BAIL;
        }
        Py_ssize_t guess = 0;
        for (Py_ssize_t k = 0; k < nkeys; k++) {
            const unsigned char *key;
            Py_ssize_t klen, at;
            p = str_at(p, end, &key, &klen);
            if (!p)
                return BAIL;
            Col *c = col_for(cs, key, klen, guess, r, &at);
            if (!c)
                return NOMEM;
            if (c->row == r)
                return BAIL; /* the key twice in one row */
            c->row = r;
            int rc = col_value(c, p, end, &p);
            if (rc)
                return rc;
            guess = at + 1;
        }
        if (p != end)
            return BAIL; /* bytes after the map */
        if (cols_end_row(cs, r))
            return NOMEM;
    }
    return 0;
}

static PyObject *columns(PyObject *self, PyObject *args)
{
    return columns_with(args, parse_rows);
}

static PyMethodDef methods[] = {
    {"columns", columns, METH_VARARGS,
     "columns(data, offsets, start, stop) -> list[(key, kind, null_count, validity, values, "
     "offsets)] | None: msgpack row maps as Arrow column buffers (None: decode row by row)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_cmsgpack",
    "msgpack row maps -> Arrow column buffers (see jsdata/frames/msgpack_columns.py).", -1,
    methods,
};

PyMODINIT_FUNC PyInit__cmsgpack(void)
{
    return PyModule_Create(&module);
}
