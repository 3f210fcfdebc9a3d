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
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

enum { K_NONE, K_INT, K_F64, K_BOOL, K_STR, K_BIN, K_TS, K_RAW, K_UINT };

typedef struct {
    char *p;
    Py_ssize_t len, cap;
} Buf;

static int buf_reserve(Buf *b, Py_ssize_t more)
{
    if (b->len + more <= b->cap)
        return 0;
    Py_ssize_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + more)
        cap *= 2;
    char *p = realloc(b->p, (size_t)cap);
    if (!p)
        return -1;
    memset(p + b->cap, 0, (size_t)(cap - b->cap)); /* bitmaps rely on zeroed growth */
    b->p = p;
    b->cap = cap;
    return 0;
}

static int buf_put(Buf *b, const void *src, Py_ssize_t n)
{
    if (buf_reserve(b, n))
        return -1;
    memcpy(b->p + b->len, src, (size_t)n);
    b->len += n;
    return 0;
}

typedef struct {
    const char *key;
    Py_ssize_t klen;
    int kind;
    Py_ssize_t len;   /* rows so far */
    Py_ssize_t nulls;
    Py_ssize_t row;   /* the last row that had this key */
    int neg, big;     /* ints: a negative one seen, one beyond int64 seen (then uint64) */
    Buf valid;        /* validity bitmap (bits 0..len-1) */
    Buf vals;         /* values: 8 bytes a row, bool bits, or string/raw bytes */
    Buf offs;         /* int32 offsets (string, binary) */
} Col;

static void col_free(Col *c)
{
    free(c->valid.p);
    free(c->vals.p);
    free(c->offs.p);
}

/* The column's bits for `len` rows (bitmap bytes exist and are zero past what was set). */
static int bits_reserve(Buf *b, Py_ssize_t nbits)
{
    Py_ssize_t need = (nbits + 7) / 8;
    if (need > b->len) {
        if (buf_reserve(b, need - b->len))
            return -1;
        b->len = need;
    }
    return 0;
}

static inline void bit_set(Buf *b, Py_ssize_t i)
{
    b->p[i >> 3] |= (char)(1 << (i & 7));
}

/* Append one null to a column of a decided kind (K_NONE only counts). */
static int col_null(Col *c)
{
    Py_ssize_t i = c->len;
    switch (c->kind) {
    case K_INT: case K_F64: case K_TS: {
        int64_t z = 0;
        if (buf_put(&c->vals, &z, 8))
            return -1;
        break;
    }
    case K_BOOL:
        if (bits_reserve(&c->vals, i + 1))
            return -1;
        break;
    case K_STR: case K_BIN: {
        int32_t o = (int32_t)c->vals.len;
        if (buf_put(&c->offs, &o, 4))
            return -1;
        break;
    }
    case K_RAW: {
        char nil = (char)0xc0;
        if (buf_put(&c->vals, &nil, 1))
            return -1;
        break;
    }
    }
    if (c->kind != K_RAW && c->kind != K_NONE && bits_reserve(&c->valid, i + 1))
        return -1;
    c->len++;
    c->nulls++;
    return 0;
}

/* Give a K_NONE column its kind: the rows so far become nulls of that kind. */
static int col_start(Col *c, int kind)
{
    Py_ssize_t n = c->len;
    c->kind = kind;
    c->len = 0;
    c->nulls = 0;
    if (kind == K_STR || kind == K_BIN) {
        int32_t z = 0;
        if (buf_put(&c->offs, &z, 4))
            return -1;
    } else if (kind == K_RAW) {
        char head[5] = {(char)0xdd, 0, 0, 0, 0}; /* array32, count filled in at the end */
        if (buf_put(&c->vals, head, 5))
            return -1;
    }
    for (Py_ssize_t i = 0; i < n; i++)
        if (col_null(c))
            return -1;
    return 0;
}

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

typedef struct {
    Col *cols;
    Py_ssize_t n, cap;
} Cols;

static void cols_free(Cols *cs)
{
    for (Py_ssize_t i = 0; i < cs->n; i++)
        col_free(&cs->cols[i]);
    free(cs->cols);
}

/* The column of a key (created when new, with `row` nulls); `guess` is tried first. */
static Col *col_for(Cols *cs, const unsigned char *k, Py_ssize_t klen, Py_ssize_t guess,
                    Py_ssize_t row, Py_ssize_t *at)
{
    if (guess < cs->n && cs->cols[guess].klen == klen &&
        memcmp(cs->cols[guess].key, k, (size_t)klen) == 0) {
        *at = guess;
        return &cs->cols[guess];
    }
    for (Py_ssize_t i = 0; i < cs->n; i++)
        if (cs->cols[i].klen == klen && memcmp(cs->cols[i].key, k, (size_t)klen) == 0) {
            *at = i;
            return &cs->cols[i];
        }
    if (cs->n == cs->cap) {
        Py_ssize_t cap = cs->cap ? 2 * cs->cap : 16;
        Col *c = realloc(cs->cols, (size_t)cap * sizeof(Col));
        if (!c)
            return NULL;
        cs->cols = c;
        cs->cap = cap;
    }
    Col *c = &cs->cols[cs->n];
    memset(c, 0, sizeof(Col));
    c->key = (const char *)k;
    c->klen = klen;
    c->kind = K_NONE;
    c->len = row; /* the rows before this one lacked the key: nulls */
    c->nulls = row;
    c->row = -1;
    *at = cs->n++;
    return c;
}

#define BAIL 1   /* not simple rows: the caller decodes them row by row */
#define NOMEM -1

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
        for (Py_ssize_t i = 0; i < cs->n; i++) {
            Col *c = &cs->cols[i];
            if (c->len == r && col_null(c))
                return NOMEM;
        }
    }
    return 0;
}

static PyObject *bytes_of(Buf *b, Py_ssize_t n)
{
    return PyBytes_FromStringAndSize(b->p ? b->p : "", n);
}

/* The (key, kind, null_count, validity, values, offsets) tuple of a finished column. */
static PyObject *col_tuple(Col *c)
{
    PyObject *key = PyUnicode_DecodeUTF8(c->key, c->klen, NULL);
    if (!key)
        return NULL;
    PyObject *valid = NULL, *vals = NULL, *offs = NULL;
    Py_ssize_t n = c->len;
    if (c->kind != K_NONE && c->kind != K_RAW && c->nulls)
        valid = bytes_of(&c->valid, (n + 7) / 8);
    else
        valid = Py_NewRef(Py_None);
    switch (c->kind) {
    case K_NONE:
        vals = Py_NewRef(Py_None);
        break;
    case K_BOOL:
        vals = bytes_of(&c->vals, (n + 7) / 8);
        break;
    case K_RAW: {
        unsigned char *h = (unsigned char *)c->vals.p;
        h[1] = (unsigned char)(n >> 24);
        h[2] = (unsigned char)(n >> 16);
        h[3] = (unsigned char)(n >> 8);
        h[4] = (unsigned char)n;
        vals = bytes_of(&c->vals, c->vals.len);
        break;
    }
    default:
        vals = bytes_of(&c->vals, c->vals.len);
    }
    if (c->kind == K_STR || c->kind == K_BIN)
        offs = bytes_of(&c->offs, c->offs.len);
    else
        offs = Py_NewRef(Py_None);
    PyObject *out = NULL;
    if (valid && vals && offs)
        out = Py_BuildValue("(NinNNN)", key, c->kind == K_INT && c->big ? K_UINT : c->kind,
                            c->nulls, valid, vals, offs);
    else {
        Py_DECREF(key);
        Py_XDECREF(valid);
        Py_XDECREF(vals);
        Py_XDECREF(offs);
    }
    return out;
}

static PyObject *columns(PyObject *self, PyObject *args)
{
    Py_buffer data, off;
    Py_ssize_t start, stop;
    if (!PyArg_ParseTuple(args, "y*y*nn", &data, &off, &start, &stop))
        return NULL;
    PyObject *out = NULL;
    Py_ssize_t n = off.len / 8 - 1;
    const int64_t *o = (const int64_t *)off.buf;
    int ok = !(off.len % 8) && n >= 0 && start >= 0 && start <= stop && stop <= n;
    for (Py_ssize_t i = start; ok && i < stop; i++)
        ok = o[i] >= 0 && o[i] <= o[i + 1] && o[i + 1] <= data.len;
    if (!ok) {
        PyErr_SetString(PyExc_ValueError, "offsets out of range");
        goto done;
    }
    Cols cs = {NULL, 0, 0};
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = parse_rows(&cs, (const unsigned char *)data.buf, o, start, stop);
    Py_END_ALLOW_THREADS
    if (rc == NOMEM) {
        PyErr_NoMemory();
    } else if (rc == BAIL) {
        out = Py_NewRef(Py_None);
    } else if ((out = PyList_New(cs.n))) {
        for (Py_ssize_t i = 0; i < cs.n; i++) {
            PyObject *t = col_tuple(&cs.cols[i]);
            if (!t) {
                Py_CLEAR(out);
                if (PyErr_ExceptionMatches(PyExc_UnicodeDecodeError)) { /* a key: bail */
                    PyErr_Clear();
                    out = Py_NewRef(Py_None);
                }
                break;
            }
            PyList_SET_ITEM(out, i, t);
        }
    }
    cols_free(&cs);
done:
    PyBuffer_Release(&data);
    PyBuffer_Release(&off);
    return out;
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
