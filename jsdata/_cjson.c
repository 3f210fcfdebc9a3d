/*
 * jsdata._cjson: JSON objects -> Arrow column buffers, in C (the JSON codec's bulk reader;
 * jsdata/frames/json_columns.py builds the table).
 *
 * columns(data, offsets, start, stop) reads payloads start..stop-1 of a buffer with int64
 * offsets, each one JSON object of scalar values (a row, as publish_dataframe writes it or
 * as most producers send events), and returns one tuple per key in order of first
 * appearance (see jsdata/_columns.h): ints as int64 (uint64 when one passes int64 and none
 * is negative: the caller decides, as pyarrow makes doubles of them without a hint), numbers
 * as float64 once a column holds one with a fraction or an exponent (ints read before are
 * converted, as pyarrow does), true/false as bool, strings (escapes decoded to UTF-8) as
 * string, null as null. A column of nested values (objects, arrays) comes back as lines
 * {"v":<value>} for pyarrow to read as one column: the scalar columns around it are not
 * parsed twice.
 *
 * It returns None, having built nothing, whenever pyarrow's reader might read the rows
 * differently or not at all, so that the caller's pyarrow path gives the answer:
 *   - a payload that is not one object (plus whitespace), or malformed JSON;
 *   - NaN / Infinity, a nested value that does not end;
 *   - a key with an escape sequence, a key twice in one row;
 *   - a column whose values are of different kinds (bool, number, string, nested);
 *   - an int beyond uint64 (or below int64, or ints of both signs beyond int64), an int
 *     written -0, a number beyond float64's range or with an exponent above 308;
 *   - an invalid escape or surrogate pair, a raw control character in a string.
 * String columns holding a value that starts like an ISO date (dddd-dd-dd) are reported as
 * K_DSTR: pyarrow infers timestamps from such strings, so the caller reads those rows with
 * pyarrow unless the column is typed text. UTF-8 is not checked here: the caller validates
 * the Arrow array.
 *
 * Floats are correctly rounded, as pyarrow's are: a decimal of at most 15 significant
 * digits and a power of ten up to 22 is one exact double operation (Clinger's fast path);
 * any other goes through strtod_l in the C locale.
 */
#include "_columns.h"
#include <locale.h>
#include <math.h>
#ifdef __APPLE__
#include <xlocale.h>
#endif

static locale_t c_locale; /* for strtod_l; (locale_t)0 if it could not be made: bail */

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                               1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                               1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

#define IS_DIGIT(ch) ((unsigned char)((ch) - '0') < 10)

static inline const unsigned char *ws(const unsigned char *p, const unsigned char *end)
{
    while (p < end && (*p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'))
        p++;
    return p;
}

static int hex4(const unsigned char *p, const unsigned char *end, uint32_t *out)
{
    if (end - p < 4)
        return -1;
    uint32_t u = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char ch = p[i];
        u <<= 4;
        if (IS_DIGIT(ch))
            u |= (uint32_t)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            u |= (uint32_t)(ch - 'a' + 10);
        else if (ch >= 'A' && ch <= 'F')
            u |= (uint32_t)(ch - 'A' + 10);
        else
            return -1;
    }
    *out = u;
    return 0;
}

static int utf8_of(uint32_t u, char *o)
{
    if (u < 0x80) {
        o[0] = (char)u;
        return 1;
    }
    if (u < 0x800) {
        o[0] = (char)(0xc0 | (u >> 6));
        o[1] = (char)(0x80 | (u & 0x3f));
        return 2;
    }
    if (u < 0x10000) {
        o[0] = (char)(0xe0 | (u >> 12));
        o[1] = (char)(0x80 | ((u >> 6) & 0x3f));
        o[2] = (char)(0x80 | (u & 0x3f));
        return 3;
    }
    o[0] = (char)(0xf0 | (u >> 18));
    o[1] = (char)(0x80 | ((u >> 12) & 0x3f));
    o[2] = (char)(0x80 | ((u >> 6) & 0x3f));
    o[3] = (char)(0x80 | (u & 0x3f));
    return 4;
}

static int datelike(const char *s, Py_ssize_t n)
{
    return n >= 10 && IS_DIGIT(s[0]) && IS_DIGIT(s[1]) && IS_DIGIT(s[2]) && IS_DIGIT(s[3]) &&
           s[4] == '-' && IS_DIGIT(s[5]) && IS_DIGIT(s[6]) && s[7] == '-' && IS_DIGIT(s[8]) &&
           IS_DIGIT(s[9]);
}

/* The string whose opening quote is at p, decoded onto c's values; *next after it. */
static int put_string(Col *c, const unsigned char *p, const unsigned char *end,
                      const unsigned char **next)
{
    Py_ssize_t from = c->vals.len;
    const unsigned char *q = p + 1;
    for (;;) {
        const unsigned char *run = q;
        while (q < end && *q != '"' && *q != '\\' && *q >= 0x20)
            q++;
        if (q > run && buf_put(&c->vals, run, q - run))
            return NOMEM;
        if (q >= end || *q < 0x20)
            return BAIL; /* unterminated, or a raw control character */
        if (*q == '"')
            break;
        if (++q >= end)
            return BAIL;
        char o[4];
        int k = 1;
        switch (*q++) {
        case '"': o[0] = '"'; break;
        case '\\': o[0] = '\\'; break;
        case '/': o[0] = '/'; break;
        case 'b': o[0] = '\b'; break;
        case 'f': o[0] = '\f'; break;
        case 'n': o[0] = '\n'; break;
        case 'r': o[0] = '\r'; break;
        case 't': o[0] = '\t'; break;
        case 'u': {
            uint32_t u, lo;
            if (hex4(q, end, &u))
                return BAIL;
            q += 4;
            if (u >= 0xdc00 && u <= 0xdfff)
                return BAIL; /* a lone low surrogate */
            if (u >= 0xd800 && u <= 0xdbff) {
                if (end - q < 6 || q[0] != '\\' || q[1] != 'u' || hex4(q + 2, end, &lo) ||
                    lo < 0xdc00 || lo > 0xdfff)
                    return BAIL; /* a high surrogate without its pair */
                q += 6;
                u = 0x10000 + ((u - 0xd800) << 10) + (lo - 0xdc00);
            }
            k = utf8_of(u, o);
            break;
        }
        default:
            return BAIL;
        }
        if (buf_put(&c->vals, o, k))
            return NOMEM;
    }
    *next = q + 1;
    if (c->vals.len > INT32_MAX)
        return BAIL;
    if (!c->datelike && datelike(c->vals.p + from, c->vals.len - from))
        c->datelike = 1;
    int32_t off = (int32_t)c->vals.len;
    return buf_put(&c->offs, &off, 4) ? NOMEM : 0;
}

/* The column's ints as float64 (a number with a fraction arrived). */
static void to_f64(Col *c)
{
    int64_t *v = (int64_t *)c->vals.p;
    for (Py_ssize_t i = 0; i < c->len; i++) {
        double d = c->big ? (double)(uint64_t)v[i] : (double)v[i];
        memcpy(&v[i], &d, 8);
    }
    c->kind = K_F64;
}

/* m * 10 + digit, unless that passes uint64 (then 0 and m is left alone). */
static inline int acc(uint64_t *m, unsigned char ch)
{
    uint64_t t;
    if (__builtin_mul_overflow(*m, (uint64_t)10, &t) ||
        __builtin_add_overflow(t, (uint64_t)(ch - '0'), &t))
        return 0;
    *m = t;
    return 1;
}

/* The number at p onto c (int64, uint64 or float64); *next after it. */
static int put_number(Col *c, const unsigned char *p, const unsigned char *end,
                      const unsigned char **next)
{
    const unsigned char *s = p;
    int neg = 0, isint = 1, exact = 1;
    uint64_t m = 0;
    int64_t e10 = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (p >= end || !IS_DIGIT(*p))
        return BAIL; /* -Infinity, a lone '-' */
    if (*p == '0') {
        p++;
    } else {
        for (; p < end && IS_DIGIT(*p); p++)
            if (!exact || !acc(&m, *p)) {
                exact = 0; /* digits beyond 64 bits: strtod reads the text */
                e10++;
            }
    }
    if (p < end && *p == '.') {
        isint = 0;
        if (++p >= end || !IS_DIGIT(*p))
            return BAIL;
        for (; p < end && IS_DIGIT(*p); p++) {
            if (exact && acc(&m, *p))
                e10--;
            else
                exact = 0;
        }
    }
    if (p < end && (*p == 'e' || *p == 'E')) {
        isint = 0;
        p++;
        int eneg = 0;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p >= end || !IS_DIGIT(*p))
            return BAIL;
        int64_t x = 0;
        for (; p < end && IS_DIGIT(*p); p++)
            if (x < 100000)
                x = x * 10 + (*p - '0');
        if (!eneg && x > 308)
            return BAIL; /* pyarrow refuses a large exponent even when the value fits */
        e10 += eneg ? -x : x;
    }
    *next = p;
    if (isint) {
        if (!exact || (neg && m > (uint64_t)INT64_MAX + 1))
            return BAIL; /* beyond int64 and uint64: pyarrow makes a double of it */
        if (neg && m == 0)
            return BAIL; /* -0: a -0.0 once the column holds floats; rare, its path */
        if (c->kind == K_NONE && col_start(c, K_INT))
            return NOMEM;
        if (c->kind == K_F64) {
            double d = neg ? -(double)m : (double)m; /* correctly rounded, as from text */
            return buf_put(&c->vals, &d, 8) ? NOMEM : 0;
        }
        if (c->kind != K_INT)
            return BAIL;
        if (neg)
            c->neg = 1;
        else if (m > (uint64_t)INT64_MAX)
            c->big = 1; /* a uint64 column, if no value is negative */
        if (c->neg && c->big)
            return BAIL;
        int64_t v = neg ? (int64_t)(0 - m) : (int64_t)m;
        return buf_put(&c->vals, &v, 8) ? NOMEM : 0;
    }
    double d;
    if (exact && m <= (1ULL << 53) && e10 >= -22 && e10 <= 22) {
        d = (double)m;
        d = e10 < 0 ? d / POW10[-e10] : d * POW10[e10];
        if (neg)
            d = -d;
    } else {
        char tmp[128];
        Py_ssize_t n = p - s;
        if (n >= (Py_ssize_t)sizeof(tmp) || !c_locale)
            return BAIL;
        memcpy(tmp, s, (size_t)n);
        tmp[n] = 0;
        d = strtod_l(tmp, NULL, c_locale);
        if (isinf(d))
            return BAIL; /* too big for a double: pyarrow refuses it */
    }
    if (c->kind == K_NONE && col_start(c, K_F64))
        return NOMEM;
    if (c->kind == K_INT)
        to_f64(c);
    if (c->kind != K_F64)
        return BAIL;
    return buf_put(&c->vals, &d, 8) ? NOMEM : 0;
}

/* The end of the nested value (object or array) at p, or NULL if it does not end (the
 * tokens inside are checked by pyarrow when it reads the column). */
static const unsigned char *skip_nested(const unsigned char *p, const unsigned char *end)
{
    Py_ssize_t depth = 0;
    for (; p < end; p++) {
        unsigned char ch = *p;
        if (ch == '"') {
            for (p++; p < end && *p != '"'; p++)
                if (*p == '\\')
                    p++;
            if (p >= end)
                return NULL;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            if (--depth == 0)
                return p + 1;
        }
    }
    return NULL;
}

static int col_value(Col *c, const unsigned char *p, const unsigned char *end,
                     const unsigned char **next);

/* A column of nested values read as Arrow, beside its lines: a list of scalars a row
 * (list<T>, T inferred over all the elements as a top-level column's type is) or an
 * object of scalars a row (a struct of the fields in order of first appearance). Anything
 * else in the column (deeper nesting, a list in one row and an object in another, an
 * escaped or repeated key, elements of mixed kinds) turns it off, and the lines are what
 * the caller reads. */
enum { N_UNSET, N_LIST, N_STRUCT };

typedef struct {
    int ok, kind;
    Py_ssize_t rows;  /* rows read so far (nulls included) */
    Py_ssize_t nulls;
    Buf valid;        /* a bit a row */
    Buf offs;         /* list: int32 offsets, rows + 1 of them */
    Col item;         /* list: the elements */
    Cols kids;        /* struct: the fields */
} Nest;

static void nest_free(void *x)
{
    Nest *t = x;
    free(t->valid.p);
    free(t->offs.p);
    col_free(&t->item);
    cols_free(&t->kids);
    free(t);
}

/* Null rows up to row `upto` (rows the column had null or lacked). */
static int nest_pad(Nest *t, Py_ssize_t upto)
{
    for (; t->rows < upto; t->rows++) {
        if (bits_reserve(&t->valid, t->rows + 1))
            return NOMEM;
        t->nulls++;
        if (t->kind == N_LIST) {
            int32_t o = (int32_t)t->item.len;
            if (buf_put(&t->offs, &o, 4))
                return NOMEM;
        } else if (t->kind == N_STRUCT && cols_end_row(&t->kids, t->rows)) {
            return NOMEM;
        }
    }
    return 0;
}

/* Fix the Nest's shape by its first value (it has no rows yet: nest_value pads after). */
static int nest_start(Nest *t, int kind)
{
    t->kind = kind;
    if (kind == N_LIST) {
        int32_t z = 0;
        t->item.key = "";
        t->item.kind = K_NONE;
        t->item.row = -1;
        if (buf_put(&t->offs, &z, 4))
            return NOMEM;
    }
    return 0;
}

/* One scalar element of a list (or field of an object) onto col: 0, BAIL (not for Arrow
 * here: the lines are read instead) or NOMEM. */
static int nest_scalar(Col *col, const unsigned char *p, const unsigned char *end,
                       const unsigned char **next)
{
    if (*p == '{' || *p == '[')
        return BAIL;
    return col_value(col, p, end, next);
}

static int nest_list(Nest *t, const unsigned char *p, const unsigned char *end)
{
    p = ws(p + 1, end);
    if (p < end && *p == ']')
        p++;
    else
        for (;;) {
            if (p >= end)
                return BAIL;
            int rc = nest_scalar(&t->item, p, end, &p);
            if (rc)
                return rc;
            p = ws(p, end);
            if (p < end && *p == ']') {
                p++;
                break;
            }
            if (p >= end || *p != ',')
                return BAIL;
            p = ws(p + 1, end);
        }
    if (t->item.len > INT32_MAX)
        return BAIL;
    int32_t o = (int32_t)t->item.len;
    return buf_put(&t->offs, &o, 4) ? NOMEM : 0;
}

/* The object at p ('{') as row `row` of cs, up to its '}' (*next after it); columns it
 * lacks get a null. `scalars`: a nested value in it is not for Arrow here (BAIL), as in an
 * object nested in a row; at the top level it goes to its column's lines. */
static int read_object(Cols *cs, Py_ssize_t row, const unsigned char *p,
                       const unsigned char *end, int scalars, const unsigned char **next)
{
    Py_ssize_t guess = 0;
    p = ws(p + 1, end);
    if (p < end && *p == '}') {
        p++;
    } else {
        for (;;) {
            if (p >= end || *p != '"')
                return BAIL;
            const unsigned char *key = ++p;
            while (p < end && *p != '"' && *p != '\\' && *p >= 0x20)
                p++;
            if (p >= end || *p != '"')
                return BAIL; /* an escape in a key (or no key): pyarrow's path */
            Py_ssize_t klen = p - key, at;
            p = ws(p + 1, end);
            if (p >= end || *p != ':')
                return BAIL;
            p = ws(p + 1, end);
            if (p >= end)
                return BAIL;
            Col *c = col_for(cs, key, klen, guess, row, &at);
            if (!c)
                return NOMEM;
            if (c->row == row)
                return BAIL; /* the key twice in one row */
            c->row = row;
            int rc = scalars ? nest_scalar(c, p, end, &p) : col_value(c, p, end, &p);
            if (rc)
                return rc;
            guess = at + 1;
            p = ws(p, end);
            if (p < end && *p == '}') {
                p++;
                break;
            }
            if (p >= end || *p != ',')
                return BAIL;
            p = ws(p + 1, end);
        }
    }
    *next = p;
    return cols_end_row(cs, row) ? NOMEM : 0;
}

/* The nested value p..q (row `row` of c) read into c's Nest, if it still reads as Arrow. */
static int nest_value(Col *c, Py_ssize_t row, const unsigned char *p, const unsigned char *q)
{
    Nest *t = c->ext;
    if (!t || !t->ok)
        return 0;
    int kind = *p == '[' ? N_LIST : N_STRUCT;
    int rc = 0;
    if (t->kind == N_UNSET)
        rc = nest_start(t, kind);
    else if (t->kind != kind)
        rc = BAIL;
    if (!rc)
        rc = nest_pad(t, row);
    if (!rc)
        rc = kind == N_LIST ? nest_list(t, p, q) : read_object(&t->kids, row, p, q, 1, &p);
    if (rc == NOMEM)
        return NOMEM;
    if (rc) {
        t->ok = 0; /* the lines are read instead */
        return 0;
    }
    if (bits_reserve(&t->valid, row + 1))
        return NOMEM;
    bit_set(&t->valid, row);
    t->rows = row + 1;
    return 0;
}

/* What a nested column reports beside its lines: ("list", nulls, validity, offsets, item)
 * or ("struct", nulls, validity, [field tuples]), or None (read the lines). */
static PyObject *nest_tuple(Col *c)
{
    Nest *t = c->ext;
    if (!t || !t->ok || t->kind == N_UNSET || nest_pad(t, c->len))
        Py_RETURN_NONE;
    if (t->kind == N_STRUCT && t->kids.n == 0)
        Py_RETURN_NONE; /* objects without fields only: pyarrow says what that is */
    PyObject *valid = t->nulls ? bytes_of(&t->valid, (t->rows + 7) / 8) : Py_NewRef(Py_None);
    if (!valid)
        return NULL;
    if (t->kind == N_LIST) {
        PyObject *offs = bytes_of(&t->offs, t->offs.len), *item = col_tuple(&t->item);
        if (!offs || !item) {
            Py_DECREF(valid);
            Py_XDECREF(offs);
            Py_XDECREF(item);
            return NULL;
        }
        return Py_BuildValue("(snNNN)", "list", t->nulls, valid, offs, item);
    }
    PyObject *kids = PyList_New(t->kids.n);
    if (!kids) {
        Py_DECREF(valid);
        return NULL;
    }
    for (Py_ssize_t i = 0; i < t->kids.n; i++) {
        PyObject *k = col_tuple(&t->kids.cols[i]);
        if (!k) {
            Py_DECREF(valid);
            Py_DECREF(kids);
            return NULL;
        }
        PyList_SET_ITEM(kids, i, k);
    }
    return Py_BuildValue("(snNN)", "struct", t->nulls, valid, kids);
}

/* The nested value at p onto c: its line {"v":<value>} (raw CR/LF as spaces), and into
 * its Arrow form while the column still reads as one. */
static int put_nested(Col *c, const unsigned char *p, const unsigned char *end,
                      const unsigned char **next)
{
    const unsigned char *q = skip_nested(p, end);
    if (!q)
        return BAIL;
    *next = q;
    Py_ssize_t from = c->vals.len;
    if (buf_put(&c->vals, JRAW_HEAD, (Py_ssize_t)strlen(JRAW_HEAD)) ||
        buf_put(&c->vals, p, q - p) || buf_put(&c->vals, JRAW_TAIL, (Py_ssize_t)strlen(JRAW_TAIL)))
        return NOMEM;
    for (char *x = c->vals.p + from, *e = c->vals.p + c->vals.len - 1; x < e; x++)
        if (*x == '\n' || *x == '\r')
            *x = ' '; /* only between tokens in valid JSON: the line stays one value */
    if (!c->ext) {
        Nest *t = calloc(1, sizeof(Nest));
        if (!t)
            return NOMEM;
        t->ok = 1;
        c->ext = t;
        c->ext_free = nest_free;
        c->ext_tuple = nest_tuple;
    }
    if (nest_value(c, c->len, p, q))
        return NOMEM;
    c->len++;
    return 0;
}

/* Append the value at p to c; *next gets its end. */
static int col_value(Col *c, const unsigned char *p, const unsigned char *end,
                     const unsigned char **next)
{
    Py_ssize_t i = c->len;
    int rc;
    unsigned char t = *p;
    if (t == '"') {
        if (c->kind == K_NONE && col_start(c, K_STR))
            return NOMEM;
        if (c->kind != K_STR)
            return BAIL;
        rc = put_string(c, p, end, next);
    } else if (t == '-' || IS_DIGIT(t)) {
        rc = put_number(c, p, end, next);
    } else if (t == 't' || t == 'f') {
        int v = t == 't';
        Py_ssize_t n = v ? 4 : 5;
        if (end - p < n || memcmp(p, v ? "true" : "false", (size_t)n))
            return BAIL;
        *next = p + n;
        if (c->kind == K_NONE && col_start(c, K_BOOL))
            return NOMEM;
        if (c->kind != K_BOOL)
            return BAIL;
        if (bits_reserve(&c->vals, i + 1))
            return NOMEM;
        if (v)
            bit_set(&c->vals, i);
        rc = 0;
    } else if (t == 'n') {
        if (end - p < 4 || memcmp(p, "null", 4))
            return BAIL;
        *next = p + 4;
        return col_null(c) ? NOMEM : 0;
    } else if (t == '{' || t == '[') {
        if (c->kind == K_NONE && col_start(c, K_JRAW))
            return NOMEM;
        if (c->kind != K_JRAW)
            return BAIL;
        return put_nested(c, p, end, next);
    } else {
        return BAIL; /* NaN, Infinity or not JSON */
    }
    if (rc)
        return rc;
    if (bits_reserve(&c->valid, i + 1))
        return NOMEM;
    bit_set(&c->valid, i);
    c->len++;
    return 0;
}

/* Parse payloads into cs: 0, BAIL or NOMEM. */
static int parse_rows(Cols *cs, const unsigned char *d, const int64_t *o, Py_ssize_t start,
                      Py_ssize_t stop)
{
    for (Py_ssize_t r = 0; r < stop - start; r++) {
        const unsigned char *p = d + o[start + r], *end = d + o[start + r + 1];
        p = ws(p, end);
        if (p >= end || *p != '{')
            return BAIL;
        int rc = read_object(cs, r, p, end, 0, &p);
        if (rc)
            return rc;
        if (ws(p, end) != end)
            return BAIL; /* more after the object */
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
     "offsets)] | None: JSON objects as Arrow column buffers (None: let pyarrow read them)."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_cjson",
    "JSON objects -> Arrow column buffers (see jsdata/frames/json_columns.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__cjson(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
    return PyModule_Create(&module);
}
