/*
 * jsdata/_columns.h: building Arrow column buffers from rows of key/value pairs, shared by
 * the C row readers (jsdata/_cmsgpack.c for msgpack maps, jsdata/_cjson.c for JSON objects).
 *
 * A reader's parse function walks payloads start..stop-1 of a buffer with int64 offsets,
 * finds each key's column (col_for, in order of first appearance), appends the value to it
 * (fixing the column's kind by its first non-null value) and, after each row, a null to the
 * columns the row lacked (cols_end_row). columns_with() wraps that in the Python call
 *
 *     columns(data, offsets, start, stop) -> list[(key, kind, null_count, validity, values,
 *                                                  offsets)] | None
 *
 * ``validity`` is an Arrow validity bitmap (None when nothing is null), ``values`` and
 * ``offsets`` the column's Arrow buffers for its kind: 8 bytes a row (int64, float64,
 * Timestamp ns), bit-packed bools, string/binary bytes with int32 offsets, or a msgpack array
 * (K_RAW). None means the parser bailed: the rows are not that simple, and the caller takes
 * its row-by-row path, which also names what was wrong.
 */
#ifndef JSDATA_COLUMNS_H
#define JSDATA_COLUMNS_H
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Column kinds. K_UINT is reported for a K_INT column with a value beyond int64 (msgpack);
 * K_DSTR for a K_STR column holding a value that starts like an ISO date (JSON: pyarrow
 * may read such a column as timestamps, so the caller leaves it to pyarrow). K_RAW is a
 * msgpack column of nested values (one msgpack array), K_JRAW a JSON one: one line
 * {"v":<value>} per row ({"v":null} for a null), for pyarrow to read as one column. */
enum { K_NONE, K_INT, K_F64, K_BOOL, K_STR, K_BIN, K_TS, K_RAW, K_UINT, K_DSTR, K_JRAW };
#define JRAW_NULL "{\"v\":null}\n"
#define JRAW_HEAD "{\"v\":"
#define JRAW_TAIL "}\n"

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

typedef struct Col {
    const char *key;
    Py_ssize_t klen;
    int kind;
    Py_ssize_t len;   /* rows so far */
    Py_ssize_t nulls;
    Py_ssize_t row;   /* the last row that had this key */
    int neg, big;     /* ints: a negative one seen, one beyond int64 seen (then uint64) */
    int datelike;     /* strings: a value starting like an ISO date seen (K_DSTR) */
    Buf valid;        /* validity bitmap (bits 0..len-1) */
    Buf vals;         /* values: 8 bytes a row, bool bits, or string/raw bytes */
    Buf offs;         /* int32 offsets (string, binary) */
    /* a reader's own state for the column (JSON: nested values read as Arrow lists and
     * structs), freed with it; ext_tuple gives what K_JRAW reports in its offsets slot */
    void *ext;
    void (*ext_free)(void *);
    PyObject *(*ext_tuple)(struct Col *);
} Col;

static void col_free(Col *c)
{
    free(c->valid.p);
    free(c->vals.p);
    free(c->offs.p);
    if (c->ext && c->ext_free)
        c->ext_free(c->ext);
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
    case K_JRAW:
        if (buf_put(&c->vals, JRAW_NULL, (Py_ssize_t)strlen(JRAW_NULL)))
            return -1;
        break;
    }
    if (c->kind != K_RAW && c->kind != K_JRAW && c->kind != K_NONE &&
        bits_reserve(&c->valid, i + 1))
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

/* After row r: every column the row lacked gets a null. */
static int cols_end_row(Cols *cs, Py_ssize_t r)
{
    for (Py_ssize_t i = 0; i < cs->n; i++) {
        Col *c = &cs->cols[i];
        if (c->len == r && col_null(c))
            return -1;
    }
    return 0;
}

#define BAIL 1   /* not simple rows: the caller decodes them row by row */
#define NOMEM -1

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
    if (c->kind != K_NONE && c->kind != K_RAW && c->kind != K_JRAW && c->nulls)
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
    else if (c->kind == K_JRAW && c->ext_tuple)
        offs = c->ext_tuple(c);
    else
        offs = Py_NewRef(Py_None);
    PyObject *out = NULL;
    if (valid && vals && offs)
        out = Py_BuildValue("(NinNNN)", key, c->kind == K_INT && c->big ? K_UINT
                            : c->kind == K_STR && c->datelike ? K_DSTR : c->kind,
                            c->nulls, valid, vals, offs);
    else {
        Py_DECREF(key);
        Py_XDECREF(valid);
        Py_XDECREF(vals);
        Py_XDECREF(offs);
    }
    return out;
}

typedef int (*parse_fn)(Cols *cs, const unsigned char *d, const int64_t *o, Py_ssize_t start,
                        Py_ssize_t stop);

/* columns(data, offsets, start, stop) with a format's row parser: checks the offsets,
 * parses without the GIL, and returns the column tuples, or None when `parse` bails. */
static PyObject *columns_with(PyObject *args, parse_fn parse)
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
    rc = parse(&cs, (const unsigned char *)data.buf, o, start, stop);
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


#endif
