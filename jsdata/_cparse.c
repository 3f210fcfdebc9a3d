/*
 * jsdata._cparse: the protocol hot path of jsdata's NATS parser, in C.
 *
 * scan(buf, pos, bulk) walks consecutive MSG / HMSG frames of ``buf`` from ``pos`` whose
 * subscription id belongs to a bulk sink (``bulk``: {sid bytes: BulkSink}) and appends
 * each message's subject, reply, header block and payload to the sink's four lists, with
 * no Python call per message. It stops at the first frame it does not take: another
 * protocol line, a sid that is not a bulk sink, a header-only message (a status, for the
 * sink's on_control), anything malformed (the Python parser raises the right error), or an
 * incomplete frame. A *packed* sink (jsdata/client/_packed.py, ``packed`` true) gets no
 * Python object per message at all: each part is appended to one growing bytearray with
 * its end offset (int64) in another, and the ``$JS.ACK`` reply subject is parsed into four
 * int64 (stream seq, consumer seq, timestamp ns, pending; -1 when not an ack subject).
 * Returns (pos, messages, payload_bytes, need): ``need`` > 0 means the
 * frame at ``pos`` needs that many bytes in total (counted from ``pos``) before it can be
 * parsed. The pure-Python parser (jsdata/_parser.py) does the same work when this
 * extension is not built, and handles everything else.
 *
 * received_msgs(cls, subjects, replies, hdrs, datas, js) and twins(cls, cores, lt) build the
 * objects a fetch hands out (jsdata.client.message.Msg and its blocking twin) straight into
 * their __slots__, with no __init__ and no Python call per message: see received_run in
 * jsdata/client/message.py and wrap_all in jsdata/blocking/twin.py, whose loops do the same.
 *
 * pub_acks(subjects, datas, plen, done) settles a run of a bulk publisher's acks (its
 * inbox's messages, as the scan appended them): see jsdata/client/bulk.py, whose
 * pub_acks_py is the pure-Python twin.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h>
#include <stdint.h>
#include <string.h>

static PyObject *empty_bytes = NULL;
static PyObject *str_subjects, *str_replies, *str_hdrs, *str_datas, *str_packed;
/* the bytearrays of a packed sink, in this order (see jsdata/client/_packed.py) */
static const char *packed_names[9] = {"subj", "soff", "rep", "roff", "hdr", "hoff", "data",
                                      "doff", "acks"};
static PyObject *str_packed_names[9];

/* Parse a non-negative decimal; -1 when not one (or too large). */
static Py_ssize_t parse_size(const char *s, Py_ssize_t len)
{
    if (len <= 0 || len > 18)
        return -1;
    Py_ssize_t v = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        char c = s[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (c - '0');
    }
    return v;
}

typedef struct {
    PyObject *sink;
    PyObject *subjects, *replies, *hdrs, *datas;
    int packed;
    PyObject *ba[9]; /* packed: the bytearrays, as packed_names */
} SinkLists;

static void sink_clear(SinkLists *s)
{
    Py_CLEAR(s->subjects);
    Py_CLEAR(s->replies);
    Py_CLEAR(s->hdrs);
    Py_CLEAR(s->datas);
    for (int i = 0; i < 9; i++)
        Py_CLEAR(s->ba[i]);
    s->packed = 0;
    s->sink = NULL;
}

static int sink_load(SinkLists *s, PyObject *sink)
{
    sink_clear(s);
    PyObject *flag = PyObject_GetAttr(sink, str_packed);
    if (flag == NULL) {
        if (!PyErr_ExceptionMatches(PyExc_AttributeError))
            return -1;
        PyErr_Clear();
    } else {
        int t = PyObject_IsTrue(flag);
        Py_DECREF(flag);
        if (t < 0)
            return -1;
        if (t) {
            for (int i = 0; i < 9; i++) {
                s->ba[i] = PyObject_GetAttr(sink, str_packed_names[i]);
                if (s->ba[i] == NULL || !PyByteArray_Check(s->ba[i])) {
                    if (s->ba[i] != NULL)
                        PyErr_Format(PyExc_TypeError, "packed sink: %s must be a bytearray",
                                     packed_names[i]);
                    sink_clear(s);
                    return -1;
                }
            }
            s->packed = 1;
            s->sink = sink;
            return 0;
        }
    }
    s->subjects = PyObject_GetAttr(sink, str_subjects);
    s->replies = PyObject_GetAttr(sink, str_replies);
    s->hdrs = PyObject_GetAttr(sink, str_hdrs);
    s->datas = PyObject_GetAttr(sink, str_datas);
    if (!s->subjects || !s->replies || !s->hdrs || !s->datas) {
        sink_clear(s);
        return -1;
    }
    if (!PyList_Check(s->subjects) || !PyList_Check(s->replies) || !PyList_Check(s->hdrs)
        || !PyList_Check(s->datas)) {
        sink_clear(s);
        PyErr_SetString(PyExc_TypeError, "BulkSink lists must be lists");
        return -1;
    }
    s->sink = sink;
    return 0;
}

static int append_new(PyObject *list, const char *p, Py_ssize_t len)
{
    PyObject *o;
    if (len == 0) {
        o = empty_bytes;
        Py_INCREF(o);
    } else {
        o = PyBytes_FromStringAndSize(p, len);
        if (!o)
            return -1;
    }
    int r = PyList_Append(list, o);
    Py_DECREF(o);
    return r;
}

/* Append len bytes to a bytearray, growing its allocation by half again when it is full
 * (PyByteArray_Resize alone grows by 1/8 at a time, a copy per few appends of a large
 * buffer): resizing up and back down keeps the larger allocation. */
static int ba_append(PyObject *ba, const void *p, Py_ssize_t len)
{
    PyByteArrayObject *o = (PyByteArrayObject *)ba;
    Py_ssize_t n = Py_SIZE(ba), need = n + len;
    if (need + 1 > o->ob_alloc - (o->ob_start - o->ob_bytes)) {
        Py_ssize_t want = need + (need >> 1) + 64;
        if (PyByteArray_Resize(ba, want) < 0)
            return -1;
    }
    if (PyByteArray_Resize(ba, need) < 0)
        return -1;
    if (len)
        memcpy(PyByteArray_AS_STRING(ba) + n, p, (size_t)len);
    return 0;
}

/* Append a part and its end offset (the part buffer's new size, as int64). */
static int part_append(PyObject *buf, PyObject *off, const char *p, Py_ssize_t len)
{
    if (ba_append(buf, p, len) < 0)
        return -1;
    int64_t end = (int64_t)PyByteArray_GET_SIZE(buf);
    return ba_append(off, &end, 8);
}

/* A non-negative decimal that fits an int64 (a nanosecond timestamp has 19 digits), or -1. */
static int64_t dec64(const char *s, Py_ssize_t len)
{
    if (len <= 0 || len > 19)
        return -1;
    uint64_t v = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        char c = s[i];
        if (c < '0' || c > '9')
            return -1;
        v = v * 10 + (uint64_t)(c - '0');
    }
    return v > (uint64_t)INT64_MAX ? -1 : (int64_t)v;
}

/* (stream seq, consumer seq, timestamp ns, pending) of a $JS.ACK reply subject: 9 tokens
 * ($JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<dseq>.<ts>.<pending>) or 11 or more
 * (with domain and account hash: the fields are tokens 7..10); -1s otherwise. */
static void ack_fields(const char *r, Py_ssize_t len, int64_t out[4])
{
    out[0] = out[1] = out[2] = out[3] = -1;
    if (len < 8 || memcmp(r, "$JS.ACK.", 8) != 0)
        return;
    const char *tok[16];
    Py_ssize_t tlen[16];
    int k = 0;
    Py_ssize_t s = 0;
    for (Py_ssize_t i = 0; i <= len; i++) {
        if (i == len || r[i] == '.') {
            if (k == 16)
                return;
            tok[k] = r + s;
            tlen[k] = i - s;
            k++;
            s = i + 1;
        }
    }
    int b;
    if (k == 9)
        b = 5;
    else if (k >= 11)
        b = 7;
    else
        return;
    for (int j = 0; j < 4; j++)
        out[j] = dec64(tok[b + j], tlen[b + j]);
}

static int packed_append(SinkLists *c, const char *subj, Py_ssize_t subj_len,
                         const char *reply, Py_ssize_t reply_len, const char *hdr,
                         Py_ssize_t hlen, const char *data, Py_ssize_t dlen)
{
    int64_t ack[4];
    ack_fields(reply, reply_len, ack);
    if (part_append(c->ba[0], c->ba[1], subj, subj_len) < 0
        || part_append(c->ba[2], c->ba[3], reply, reply_len) < 0
        || part_append(c->ba[4], c->ba[5], hdr, hlen) < 0
        || part_append(c->ba[6], c->ba[7], data, dlen) < 0
        || ba_append(c->ba[8], ack, 32) < 0)
        return -1;
    return 0;
}

static PyObject *scan(PyObject *self, PyObject *args)
{
    Py_buffer view;
    Py_ssize_t pos;
    PyObject *bulk;
    if (!PyArg_ParseTuple(args, "y*nO!", &view, &pos, &PyDict_Type, &bulk))
        return NULL;
    const char *b = (const char *)view.buf;
    const Py_ssize_t n = view.len;
    Py_ssize_t nmsgs = 0, nbytes = 0, need = 0;
    SinkLists cur;
    memset(&cur, 0, sizeof cur);
    const char *last_sid = NULL;
    Py_ssize_t last_sid_len = 0;
    int failed = 0;

    while (pos < n) {
        const char *line = b + pos;
        Py_ssize_t avail = n - pos;
        int hmsg;
        if (avail >= 4 && memcmp(line, "MSG ", 4) == 0)
            hmsg = 0;
        else if (avail >= 5 && memcmp(line, "HMSG ", 5) == 0)
            hmsg = 1;
        else
            break;
        const char *lf = memchr(line, '\n', (size_t)avail);
        if (lf == NULL || lf == line || lf[-1] != '\r')
            break; /* incomplete or odd control line: the Python parser decides */
        Py_ssize_t end = (lf - b) - 1; /* index of CR */
        /* split the control line on spaces / tabs */
        const char *tok[7];
        Py_ssize_t tlen[7];
        int k = 0;
        Py_ssize_t i = pos;
        while (i < end && k < 7) {
            while (i < end && (b[i] == ' ' || b[i] == '\t'))
                i++;
            if (i >= end)
                break;
            Py_ssize_t s = i;
            while (i < end && b[i] != ' ' && b[i] != '\t')
                i++;
            tok[k] = b + s;
            tlen[k] = i - s;
            k++;
        }
        while (i < end && (b[i] == ' ' || b[i] == '\t'))
            i++;
        if (i < end)
            break; /* too many tokens: malformed */
        const char *subj, *sid, *reply = NULL;
        Py_ssize_t subj_len, sid_len, reply_len = 0, hlen, total;
        if (!hmsg) {
            if (k != 4 && k != 5)
                break;
            subj = tok[1];
            subj_len = tlen[1];
            sid = tok[2];
            sid_len = tlen[2];
            if (k == 5) {
                reply = tok[3];
                reply_len = tlen[3];
            }
            hlen = 0;
            total = parse_size(tok[k - 1], tlen[k - 1]);
        } else {
            if (k != 5 && k != 6)
                break;
            subj = tok[1];
            subj_len = tlen[1];
            sid = tok[2];
            sid_len = tlen[2];
            if (k == 6) {
                reply = tok[3];
                reply_len = tlen[3];
            }
            hlen = parse_size(tok[k - 2], tlen[k - 2]);
            total = parse_size(tok[k - 1], tlen[k - 1]);
            if (hlen < 0 || hlen > total)
                break;
        }
        if (total < 0)
            break;
        Py_ssize_t start = end + 2;
        Py_ssize_t stop = start + total;
        if (stop + 2 > n) {
            need = stop + 2 - pos;
            break;
        }
        if (hlen && hlen == total)
            break; /* header only: the sink's on_control, from Python */
        if (last_sid == NULL || sid_len != last_sid_len || memcmp(sid, last_sid, sid_len) != 0) {
            PyObject *key = PyBytes_FromStringAndSize(sid, sid_len);
            if (!key) {
                failed = 1;
                break;
            }
            PyObject *sink = PyDict_GetItemWithError(bulk, key);
            Py_DECREF(key);
            if (sink == NULL) {
                if (PyErr_Occurred())
                    failed = 1;
                break; /* not a bulk subscription */
            }
            if (sink != cur.sink && sink_load(&cur, sink) < 0) {
                failed = 1;
                break;
            }
            last_sid = sid;
            last_sid_len = sid_len;
        }
        if (cur.packed) {
            if (packed_append(&cur, subj, subj_len, reply, reply_len, b + start, hlen,
                              b + start + hlen, total - hlen) < 0) {
                failed = 1;
                break;
            }
        } else if (append_new(cur.subjects, subj, subj_len) < 0
            || append_new(cur.replies, reply, reply_len) < 0
            || append_new(cur.hdrs, b + start, hlen) < 0
            || append_new(cur.datas, b + start + hlen, total - hlen) < 0) {
            failed = 1;
            break;
        }
        nmsgs++;
        nbytes += total - hlen;
        pos = stop + 2;
    }
    sink_clear(&cur);
    PyBuffer_Release(&view);
    if (failed)
        return NULL;
    return Py_BuildValue("nnnn", pos, nmsgs, nbytes, need);
}


/* Append the decimal digits of v (>= 0) at p; returns the end. */
static char *put_uint(char *p, Py_ssize_t v)
{
    char tmp[24];
    int k = 0;
    do {
        tmp[k++] = (char)('0' + (v % 10));
        v /= 10;
    } while (v);
    while (k)
        *p++ = tmp[--k];
    return p;
}

static Py_ssize_t uint_len(Py_ssize_t v)
{
    Py_ssize_t k = 1;
    while (v >= 10) {
        v /= 10;
        k++;
    }
    return k;
}

/* The UTF-8 bytes of a str, or the bytes of a bytes object (borrowed pointer). */
static int text_of(PyObject *o, const char **p, Py_ssize_t *len)
{
    if (PyUnicode_Check(o)) {
        *p = PyUnicode_AsUTF8AndSize(o, len);
        return *p ? 0 : -1;
    }
    if (PyBytes_Check(o)) {
        *p = PyBytes_AS_STRING(o);
        *len = PyBytes_GET_SIZE(o);
        return 0;
    }
    PyErr_SetString(PyExc_TypeError, "subjects must be str or bytes");
    return -1;
}

/*
 * pubs(subjects, prefix, start, payloads, hdrs) -> bytes
 *
 * The PUB / HPUB commands of a batch in one buffer: message i (0-based) goes to
 * subjects[i] (or the one subject given), with reply prefix + str(start + i), header block
 * hdrs[i] (or the one given; b"" means PUB without headers) and payloads[i].
 */
static PyObject *pubs(PyObject *self, PyObject *args)
{
    PyObject *subjects, *payloads, *hdrs;
    Py_buffer prefix;
    Py_ssize_t start;
    if (!PyArg_ParseTuple(args, "Oy*nOO", &subjects, &prefix, &start, &payloads, &hdrs))
        return NULL;
    PyObject *out = NULL;
    PyObject *pl = PySequence_Fast(payloads, "payloads must be a sequence");
    PyObject *sl = NULL, *hl = NULL;
    if (!pl)
        goto done;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(pl);
    int one_subject = PyUnicode_Check(subjects) || PyBytes_Check(subjects);
    int one_hdr = PyBytes_Check(hdrs);
    if (!one_subject) {
        sl = PySequence_Fast(subjects, "subjects must be a str or a sequence");
        if (!sl)
            goto done;
        if (PySequence_Fast_GET_SIZE(sl) < n) {
            PyErr_SetString(PyExc_ValueError, "fewer subjects than payloads");
            goto done;
        }
    }
    if (!one_hdr) {
        hl = PySequence_Fast(hdrs, "hdrs must be bytes or a sequence");
        if (!hl)
            goto done;
        if (PySequence_Fast_GET_SIZE(hl) < n) {
            PyErr_SetString(PyExc_ValueError, "fewer header blocks than payloads");
            goto done;
        }
    }
    const char *s1 = NULL;
    Py_ssize_t s1_len = 0;
    if (one_subject && text_of(subjects, &s1, &s1_len) < 0)
        goto done;
    /* pass 1: the size */
    Py_ssize_t total = 0;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *p = PySequence_Fast_GET_ITEM(pl, i);
        if (!PyBytes_Check(p)) {
            PyErr_Format(PyExc_TypeError, "payload %zd is not bytes", i);
            goto done;
        }
        const char *sp;
        Py_ssize_t slen;
        if (one_subject) {
            slen = s1_len;
        } else if (text_of(PySequence_Fast_GET_ITEM(sl, i), &sp, &slen) < 0) {
            goto done;
        }
        PyObject *h = one_hdr ? hdrs : PySequence_Fast_GET_ITEM(hl, i);
        if (!PyBytes_Check(h)) {
            PyErr_Format(PyExc_TypeError, "header block %zd is not bytes", i);
            goto done;
        }
        Py_ssize_t hlen = PyBytes_GET_SIZE(h), plen = PyBytes_GET_SIZE(p);
        /* "HPUB " subj " " prefix idx " " hlen " " total "\r\n" hdr payload "\r\n" */
        total += 5 + slen + 1 + prefix.len + uint_len(start + i) + 1 + plen + 4;
        if (hlen)
            total += uint_len(hlen) + 1 + uint_len(hlen + plen) + hlen;
        else
            total += uint_len(plen) - 1; /* "PUB " is one byte shorter than "HPUB " */
    }
    out = PyBytes_FromStringAndSize(NULL, total);
    if (!out)
        goto done;
    char *w = PyBytes_AS_STRING(out);
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *p = PySequence_Fast_GET_ITEM(pl, i);
        const char *sp = s1;
        Py_ssize_t slen = s1_len;
        if (!one_subject)
            text_of(PySequence_Fast_GET_ITEM(sl, i), &sp, &slen);
        PyObject *h = one_hdr ? hdrs : PySequence_Fast_GET_ITEM(hl, i);
        Py_ssize_t hlen = PyBytes_GET_SIZE(h), plen = PyBytes_GET_SIZE(p);
        if (hlen) {
            memcpy(w, "HPUB ", 5);
            w += 5;
        } else {
            memcpy(w, "PUB ", 4);
            w += 4;
        }
        memcpy(w, sp, slen);
        w += slen;
        *w++ = ' ';
        memcpy(w, prefix.buf, prefix.len);
        w += prefix.len;
        w = put_uint(w, start + i);
        *w++ = ' ';
        if (hlen) {
            w = put_uint(w, hlen);
            *w++ = ' ';
            w = put_uint(w, hlen + plen);
        } else {
            w = put_uint(w, plen);
        }
        *w++ = '\r';
        *w++ = '\n';
        if (hlen) {
            memcpy(w, PyBytes_AS_STRING(h), hlen);
            w += hlen;
        }
        memcpy(w, PyBytes_AS_STRING(p), plen);
        w += plen;
        *w++ = '\r';
        *w++ = '\n';
    }
    if (w - PyBytes_AS_STRING(out) != total) {
        Py_CLEAR(out);
        PyErr_SetString(PyExc_SystemError, "pubs: size mismatch");
    }
done:
    Py_XDECREF(pl);
    Py_XDECREF(sl);
    Py_XDECREF(hl);
    PyBuffer_Release(&prefix);
    return out;
}

/* The int64 offsets view of a buffer: n + 1 entries, ascending, within data_len. */
static int offsets_of(Py_buffer *off, Py_ssize_t data_len, Py_ssize_t start, Py_ssize_t stop,
                      const int64_t **out)
{
    Py_ssize_t n = off->len / 8 - 1;
    if (off->len % 8 || n < 0 || start < 0 || stop < start || stop > n) {
        PyErr_SetString(PyExc_ValueError, "offsets out of range");
        return -1;
    }
    const int64_t *o = (const int64_t *)off->buf;
    for (Py_ssize_t i = start; i < stop; i++)
        if (o[i] < 0 || o[i + 1] < o[i] || o[i + 1] > data_len) {
            PyErr_SetString(PyExc_ValueError, "offsets out of range");
            return -1;
        }
    *out = o;
    return 0;
}

/*
 * join(data, offsets, start, stop, sep) -> bytes
 *
 * Parts start..stop-1 of a buffer + int64 offsets (part i is data[offsets[i]:offsets[i+1]])
 * joined with sep: the newline-delimited blob of a whole batch of JSON payloads in one copy.
 */
static PyObject *join(PyObject *self, PyObject *args)
{
    Py_buffer data, off, sep;
    Py_ssize_t start, stop;
    if (!PyArg_ParseTuple(args, "y*y*nny*", &data, &off, &start, &stop, &sep))
        return NULL;
    PyObject *out = NULL;
    const int64_t *o;
    if (offsets_of(&off, data.len, start, stop, &o) == 0) {
        Py_ssize_t k = stop - start;
        Py_ssize_t total = k ? (Py_ssize_t)(o[stop] - o[start]) + (k - 1) * sep.len : 0;
        out = PyBytes_FromStringAndSize(NULL, total);
        if (out) {
            char *w = PyBytes_AS_STRING(out);
            const char *d = (const char *)data.buf;
            for (Py_ssize_t i = start; i < stop; i++) {
                if (i > start && sep.len) {
                    memcpy(w, sep.buf, (size_t)sep.len);
                    w += sep.len;
                }
                Py_ssize_t len = (Py_ssize_t)(o[i + 1] - o[i]);
                memcpy(w, d + o[i], (size_t)len);
                w += len;
            }
        }
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&off);
    PyBuffer_Release(&sep);
    return out;
}

/*
 * split(data, offsets, start, stop) -> list[bytes]: parts start..stop-1 as bytes objects
 * (for codecs that take one payload at a time).
 */
static PyObject *split(PyObject *self, PyObject *args)
{
    Py_buffer data, off;
    Py_ssize_t start, stop;
    if (!PyArg_ParseTuple(args, "y*y*nn", &data, &off, &start, &stop))
        return NULL;
    PyObject *out = NULL;
    const int64_t *o;
    if (offsets_of(&off, data.len, start, stop, &o) == 0) {
        out = PyList_New(stop - start);
        const char *d = (const char *)data.buf;
        for (Py_ssize_t i = start; out && i < stop; i++) {
            Py_ssize_t len = (Py_ssize_t)(o[i + 1] - o[i]);
            PyObject *b;
            if (len == 0) {
                b = empty_bytes;
                Py_INCREF(b);
            } else {
                b = PyBytes_FromStringAndSize(d + o[i], len);
            }
            if (!b) {
                Py_CLEAR(out);
                break;
            }
            PyList_SET_ITEM(out, i - start, b);
        }
    }
    PyBuffer_Release(&data);
    PyBuffer_Release(&off);
    return out;
}


/* The decimal digits s[0..len) as a number, or -1 (not all digits, empty, or 19 digits and
 * more: an index or sequence that large goes to the Python path). */
static int64_t digits_of(const char *s, Py_ssize_t len)
{
    if (len <= 0 || len > 18)
        return -1;
    int64_t v = 0;
    for (Py_ssize_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

static int has(const char **p, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(end - *p) < n || memcmp(*p, lit, n))
        return 0;
    *p += n;
    return 1;
}

/* The stream and sequence of a plain successful publish ack,
 * {"stream":"S"[,"domain":"D"],"seq":N[,"duplicate":true]}: 1, 2 (a duplicate) or 0. */
static int plain_ack(const char *d, Py_ssize_t len, const char **stream, Py_ssize_t *slen,
                     int64_t *seq)
{
    const char *p = d, *end = d + len, *q;
    if (!has(&p, end, "{\"stream\":\""))
        return 0;
    for (q = p; q < end && *q != '"' && *q != '\\'; q++)
        ;
    if (q == p || q >= end || *q != '"')
        return 0;
    *stream = p;
    *slen = q - p;
    p = q + 1;
    if (has(&p, end, ",\"domain\":\"")) {
        for (; p < end && *p != '"' && *p != '\\'; p++)
            ;
        if (p >= end || *p != '"')
            return 0;
        p++;
    }
    if (!has(&p, end, ",\"seq\":"))
        return 0;
    for (q = p; q < end && *q >= '0' && *q <= '9'; q++)
        ;
    if ((*seq = digits_of(p, q - p)) < 0)
        return 0;
    p = q;
    int dup = has(&p, end, ",\"duplicate\":true");
    return p + 1 == end && *p == '}' ? 1 + dup : 0;
}

static PyObject *pub_acks(PyObject *self, PyObject *args)
{
    PyObject *subjects, *datas, *done;
    Py_ssize_t plen;
    if (!PyArg_ParseTuple(args, "O!O!nO!", &PyList_Type, &subjects, &PyList_Type, &datas,
                          &plen, &PyByteArray_Type, &done))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(subjects);
    if (PyList_GET_SIZE(datas) != n) {
        PyErr_SetString(PyExc_ValueError, "subjects and datas differ in length");
        return NULL;
    }
    char *dn = PyByteArray_AS_STRING(done);
    Py_ssize_t ndone = PyByteArray_GET_SIZE(done), acked = 0, dups = 0;
    int64_t lo = -1, hi = -1;
    PyObject *stream = NULL, *rest = PyList_New(0);
    if (!rest)
        return NULL;
    for (Py_ssize_t k = 0; k < n; k++) {
        PyObject *so = PyList_GET_ITEM(subjects, k), *dobj = PyList_GET_ITEM(datas, k);
        if (!PyBytes_Check(so) || !PyBytes_Check(dobj) || PyBytes_GET_SIZE(so) < plen)
            goto python;
        int64_t i = digits_of(PyBytes_AS_STRING(so) + plen, PyBytes_GET_SIZE(so) - plen);
        if (i < 0)
            goto python;
        if (i >= ndone || dn[i])
            continue; /* not ours, or resolved already (a resend's second ack) */
        const char *sname;
        Py_ssize_t slen;
        int64_t seq;
        int kind = plain_ack(PyBytes_AS_STRING(dobj), PyBytes_GET_SIZE(dobj), &sname, &slen,
                             &seq);
        if (!kind)
            goto python;
        if (!stream && !(stream = PyBytes_FromStringAndSize(sname, slen)))
            goto fail;
        dn[i] = 1;
        acked++;
        dups += kind == 2;
        if (lo < 0 || seq < lo)
            lo = seq;
        if (seq > hi)
            hi = seq;
        continue;
    python: {
        PyObject *at = PyLong_FromSsize_t(k);
        if (!at || PyList_Append(rest, at)) {
            Py_XDECREF(at);
            goto fail;
        }
        Py_DECREF(at);
    }
    }
    if (!stream)
        stream = Py_NewRef(Py_None);
    return Py_BuildValue("(nnLLNN)", acked, dups, (long long)lo, (long long)hi, stream, rest);
fail:
    Py_XDECREF(stream);
    Py_DECREF(rest);
    return NULL;
}

/* untrack(obj): leave obj out of the cycle collector's traversals (see PubAckFuture in
 * jsdata/client/publish.py); track(obj): put it back (no-op when tracked). */
static PyObject *untrack(PyObject *self, PyObject *obj)
{
    if (PyObject_IS_GC(obj))
        PyObject_GC_UnTrack(obj);
    Py_RETURN_NONE;
}

static PyObject *track(PyObject *self, PyObject *obj)
{
    if (PyObject_IS_GC(obj) && !PyObject_GC_IsTracked(obj))
        PyObject_GC_Track(obj);
    Py_RETURN_NONE;
}

/* ---- objects built straight into their __slots__ ------------------------------------ */

#define MAX_SLOTS 8

/* Where the named __slots__ of a class live in its instances, checked once per class. */
typedef struct {
    PyTypeObject *cls; /* strong reference; NULL until first used */
    Py_ssize_t off[MAX_SLOTS];
} Layout;

static int layout_of(Layout *L, PyObject *cls, const char *const *names, int n)
{
    if ((PyObject *)L->cls == cls)
        return 0;
    if (!PyType_Check(cls)) {
        PyErr_SetString(PyExc_TypeError, "expected a class");
        return -1;
    }
    Py_ssize_t off[MAX_SLOTS];
    for (int i = 0; i < n; i++) {
        PyObject *d = PyObject_GetAttrString(cls, names[i]);
        if (!d)
            return -1;
        int ok = Py_IS_TYPE(d, &PyMemberDescr_Type)
                 && ((PyMemberDescrObject *)d)->d_member->type == T_OBJECT_EX
                 && PyType_IsSubtype((PyTypeObject *)cls,
                                     ((PyMemberDescrObject *)d)->d_common.d_type);
        if (ok)
            off[i] = ((PyMemberDescrObject *)d)->d_member->offset;
        Py_DECREF(d);
        if (!ok) {
            PyErr_Format(PyExc_TypeError, "%s.%s is not a slot",
                         ((PyTypeObject *)cls)->tp_name, names[i]);
            return -1;
        }
    }
    memcpy(L->off, off, sizeof(off));
    Py_INCREF(cls);
    Py_XSETREF(L->cls, (PyTypeObject *)cls);
    return 0;
}

/* Set a slot of a fresh instance (it holds NULL): steals ``v``. */
#define SET_SLOT(o, off, v) (*(PyObject **)((char *)(o) + (off)) = (v))

static const char *const msg_slots[] = {"subject", "reply", "data", "_hdr", "_headers", "_js",
                                        "_acked", "_meta"};
static Layout msg_layout;

/* received_msgs(cls, subjects, replies, hdrs, datas, js) -> list: a Msg per message, as
 * jsdata.client.message.received builds it (subject and reply decoded from UTF-8). A run's
 * subjects are mostly one subject: equal consecutive ones share their str. */
static PyObject *received_msgs(PyObject *self, PyObject *args)
{
    PyObject *cls, *subjects, *replies, *hdrs, *datas, *js;
    if (!PyArg_ParseTuple(args, "OO!O!O!O!O", &cls, &PyList_Type, &subjects, &PyList_Type,
                          &replies, &PyList_Type, &hdrs, &PyList_Type, &datas, &js))
        return NULL;
    if (layout_of(&msg_layout, cls, msg_slots, 8))
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(datas);
    if (PyList_GET_SIZE(subjects) != n || PyList_GET_SIZE(replies) != n
        || PyList_GET_SIZE(hdrs) != n) {
        PyErr_SetString(PyExc_ValueError, "the four lists differ in length");
        return NULL;
    }
    PyTypeObject *tp = (PyTypeObject *)cls;
    const Py_ssize_t *off = msg_layout.off;
    PyObject *out = PyList_New(n), *last_b = NULL, *last_s = NULL;
    if (!out)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *sb = PyList_GET_ITEM(subjects, i), *rb = PyList_GET_ITEM(replies, i);
        if (!PyBytes_Check(sb) || !PyBytes_Check(rb)) {
            PyErr_SetString(PyExc_TypeError, "subjects and replies must be bytes");
            goto fail;
        }
        if (!(last_b && (sb == last_b || (PyBytes_GET_SIZE(sb) == PyBytes_GET_SIZE(last_b)
                                          && !memcmp(PyBytes_AS_STRING(sb),
                                                     PyBytes_AS_STRING(last_b),
                                                     PyBytes_GET_SIZE(sb)))))) {
            PyObject *s = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(sb), PyBytes_GET_SIZE(sb),
                                               "strict");
            if (!s)
                goto fail;
            Py_XSETREF(last_s, s);
            last_b = sb; /* borrowed: the list holds it */
        }
        PyObject *r = PyUnicode_DecodeUTF8(PyBytes_AS_STRING(rb), PyBytes_GET_SIZE(rb),
                                           "strict");
        if (!r)
            goto fail;
        PyObject *m = tp->tp_alloc(tp, 0);
        if (!m) {
            Py_DECREF(r);
            goto fail;
        }
        SET_SLOT(m, off[0], Py_NewRef(last_s));
        SET_SLOT(m, off[1], r);
        SET_SLOT(m, off[2], Py_NewRef(PyList_GET_ITEM(datas, i)));
        SET_SLOT(m, off[3], Py_NewRef(PyList_GET_ITEM(hdrs, i)));
        SET_SLOT(m, off[4], Py_NewRef(Py_None));
        SET_SLOT(m, off[5], Py_NewRef(js));
        SET_SLOT(m, off[6], Py_NewRef(Py_False));
        SET_SLOT(m, off[7], Py_NewRef(Py_None));
        PyList_SET_ITEM(out, i, m);
    }
    Py_XDECREF(last_s);
    return out;
fail:
    Py_XDECREF(last_s);
    Py_DECREF(out); /* the NULL items past the failure are skipped */
    return NULL;
}

static const char *const twin_slots[] = {"_core", "_lt"};
static Layout twin_layout;

/* twins(cls, cores, lt) -> list: cls's instances with _core = each core and _lt = lt, as
 * jsdata.blocking.twin.Twin._wrap builds them. */
static PyObject *twins(PyObject *self, PyObject *args)
{
    PyObject *cls, *cores, *lt;
    if (!PyArg_ParseTuple(args, "OO!O", &cls, &PyList_Type, &cores, &lt))
        return NULL;
    if (layout_of(&twin_layout, cls, twin_slots, 2))
        return NULL;
    PyTypeObject *tp = (PyTypeObject *)cls;
    Py_ssize_t n = PyList_GET_SIZE(cores), o0 = twin_layout.off[0], o1 = twin_layout.off[1];
    PyObject *out = PyList_New(n);
    if (!out)
        return NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *t = tp->tp_alloc(tp, 0);
        if (!t) {
            Py_DECREF(out);
            return NULL;
        }
        SET_SLOT(t, o0, Py_NewRef(PyList_GET_ITEM(cores, i)));
        SET_SLOT(t, o1, Py_NewRef(lt));
        PyList_SET_ITEM(out, i, t);
    }
    return out;
}

static PyMethodDef methods[] = {
    {"received_msgs", received_msgs, METH_VARARGS,
     "received_msgs(cls, subjects, replies, hdrs, datas, js) -> list: a received Msg per "
     "message, built into its slots."},
    {"twins", twins, METH_VARARGS,
     "twins(cls, cores, lt) -> list: blocking twins (_core, _lt) of a list of core objects."},
    {"join", join, METH_VARARGS,
     "join(data, offsets, start, stop, sep) -> bytes: parts start..stop-1 of a buffer with "
     "int64 offsets, joined with sep."},
    {"split", split, METH_VARARGS,
     "split(data, offsets, start, stop) -> list[bytes]: parts start..stop-1 of a buffer with "
     "int64 offsets."},
    {"scan", scan, METH_VARARGS,
     "scan(buf, pos, bulk) -> (pos, messages, payload_bytes, need): append the consecutive "
     "MSG/HMSG frames of bulk subscriptions to their sinks' lists."},
    {"pubs", pubs, METH_VARARGS,
     "pubs(subjects, prefix, start, payloads, hdrs) -> bytes: the PUB/HPUB commands of a "
     "batch (reply = prefix + str(start + i)) in one buffer."},
    {"untrack", untrack, METH_O,
     "untrack(obj): leave obj out of the cycle collector (it must hold no cycle)."},
    {"track", track, METH_O, "track(obj): put an untracked obj back in the cycle collector."},
    {"pub_acks", pub_acks, METH_VARARGS,
     "pub_acks(subjects, datas, plen, done) -> (acked, duplicates, min_seq, max_seq, stream, "
     "rest): settle a bulk publisher's plain acks (index = subject[plen:]) in done; rest: the "
     "positions for the Python path."},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_cparse",
    "The C hot path of jsdata's protocol parser (see jsdata/_parser.py).", -1, methods,
};

PyMODINIT_FUNC PyInit__cparse(void)
{
    empty_bytes = PyBytes_FromStringAndSize(NULL, 0);
    str_subjects = PyUnicode_InternFromString("subjects");
    str_replies = PyUnicode_InternFromString("replies");
    str_hdrs = PyUnicode_InternFromString("hdrs");
    str_datas = PyUnicode_InternFromString("datas");
    str_packed = PyUnicode_InternFromString("packed");
    if (!empty_bytes || !str_subjects || !str_replies || !str_hdrs || !str_datas || !str_packed)
        return NULL;
    for (int i = 0; i < 9; i++)
        if (!(str_packed_names[i] = PyUnicode_InternFromString(packed_names[i])))
            return NULL;
    return PyModule_Create(&module);
}
