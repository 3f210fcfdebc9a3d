/*
 * jsdata._cparse: the protocol hot path of jsdata's NATS parser, in C.
 *
 * scan(buf, pos, bulk) walks consecutive MSG / HMSG frames of ``buf`` from ``pos`` whose
 * subscription id belongs to a bulk sink (``bulk``: {sid bytes: BulkSink}) and appends
 * each message's subject, reply, header block and payload to the sink's four lists, with
 * no Python call per message. It stops at the first frame it does not take: another
 * protocol line, a sid that is not a bulk sink, a header-only message (a status, for the
 * sink's on_control), anything malformed (the Python parser raises the right error), or an
 * incomplete frame. Returns (pos, messages, payload_bytes, need): ``need`` > 0 means the
 * frame at ``pos`` needs that many bytes in total (counted from ``pos``) before it can be
 * parsed. The pure-Python parser (jsdata/_parser.py) does the same work when this
 * extension is not built, and handles everything else.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <string.h>

static PyObject *empty_bytes = NULL;
static PyObject *str_subjects, *str_replies, *str_hdrs, *str_datas;

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
} SinkLists;

static void sink_clear(SinkLists *s)
{
    Py_CLEAR(s->subjects);
    Py_CLEAR(s->replies);
    Py_CLEAR(s->hdrs);
    Py_CLEAR(s->datas);
    s->sink = NULL;
}

static int sink_load(SinkLists *s, PyObject *sink)
{
    sink_clear(s);
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
    SinkLists cur = {NULL, NULL, NULL, NULL, NULL};
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
        if (append_new(cur.subjects, subj, subj_len) < 0
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

static PyMethodDef methods[] = {
    {"scan", scan, METH_VARARGS,
     "scan(buf, pos, bulk) -> (pos, messages, payload_bytes, need): append the consecutive "
     "MSG/HMSG frames of bulk subscriptions to their sinks' lists."},
    {"pubs", pubs, METH_VARARGS,
     "pubs(subjects, prefix, start, payloads, hdrs) -> bytes: the PUB/HPUB commands of a "
     "batch (reply = prefix + str(start + i)) in one buffer."},
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
    if (!empty_bytes || !str_subjects || !str_replies || !str_hdrs || !str_datas)
        return NULL;
    return PyModule_Create(&module);
}
