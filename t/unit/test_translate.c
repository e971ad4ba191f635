/*
 * Copyright (C) llmopt authors
 *
 * Translation between the dialects against the golden corpus of
 * t/data/translate (MANIFEST): requests, answers, errors and event
 * streams translated both ways and compared field by field, round trips
 * that give the input back, streams fed whole, byte by byte and split at
 * random (seeded) with identical output, output buffers too small.
 */

#include <stdlib.h>
#include <string.h>
#include <stdint.h>

#include "llmopt_translate.h"
#include "tap.h"

#include <stdarg.h>


#define TEST_DIR      "t/data/translate/"
#define TEST_CREATED  1767225600
#define TEST_SPLITS   5


typedef struct {
    unsigned char      *buf;
    size_t              len;
    llmopt_json_tok_t  *toks;
    unsigned            ntoks;
} test_doc_t;


typedef struct {
    char                kind[32];
    char                from[16];
    char                to[16];
    char                input[128];
    char                expected[256];
    char                dropped[512];
    int64_t             max_tokens;
    int                 drop;
    int                 include_usage;
    int                 status;
    int                 client_status;
    char                json_tool[64];
    long                keep;           /* -1: the default */
} test_case_t;


static unsigned char *test_read(const char *name, size_t *len);
static int test_parse(const unsigned char *buf, size_t len, test_doc_t *d);
static int test_same(const test_doc_t *a, int ai, const test_doc_t *b, int bi,
    char *path, size_t plen, char *why, size_t wlen);
static int test_same_json(const unsigned char *a, size_t alen,
    const unsigned char *b, size_t blen, char *why, size_t wlen);
static void test_x(const test_case_t *c, llmopt_xlate_t *x,
    llmopt_dialect_e from, llmopt_dialect_e to);
static llmopt_dialect_e test_dialect(const char *s);
static int test_translate(int response, llmopt_xlate_t *x,
    const unsigned char *in, size_t len, unsigned char **out,
    size_t *out_len, llmopt_err_t *err);
static int test_request(llmopt_xlate_t *x, const unsigned char *in,
    size_t len, unsigned char **out, size_t *out_len, llmopt_err_t *err);
static int test_response(llmopt_xlate_t *x, const unsigned char *in,
    size_t len, unsigned char **out, size_t *out_len);
static long  test_keep = -1;          /* the case's keep, for test_stream */

static unsigned char *test_stream(const llmopt_xlate_t *x,
    const unsigned char *in, size_t len, unsigned split, size_t out_cap,
    size_t line_cap, size_t *out_len);
static int test_same_sse(const unsigned char *a, size_t alen,
    const unsigned char *b, size_t blen, char *why, size_t wlen);
static void test_case(const test_case_t *c);
static void test_bounds(void);
static void diag(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));


/* a TAP comment, every line of it */

static void
diag(const char *fmt, ...)
{
    char     text[8192], *p, *nl;
    va_list  ap;

    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);

    for (p = text; p != NULL; p = nl) {
        nl = strchr(p, '\n');
        if (nl != NULL) {
            *nl++ = '\0';
        }

        printf("# %s\n", p);
    }
}


static unsigned char *
test_read(const char *name, size_t *len)
{
    FILE           *f;
    char            path[512];
    long            n;
    unsigned char  *buf;

    snprintf(path, sizeof(path), "%s%s", TEST_DIR, name);

    f = fopen(path, "rb");
    if (f == NULL) {
        return NULL;
    }

    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);

    buf = malloc((size_t) n + 1);
    if (buf == NULL || fread(buf, 1, (size_t) n, f) != (size_t) n) {
        fclose(f);
        free(buf);
        return NULL;
    }

    fclose(f);
    buf[n] = '\0';
    *len = (size_t) n;

    return buf;
}


static int
test_parse(const unsigned char *buf, size_t len, test_doc_t *d)
{
    unsigned      count;
    llmopt_err_t  err;

    d->buf = (unsigned char *) buf;
    d->len = len;
    d->toks = NULL;
    d->ntoks = 0;

    if (llmopt_json_parse(buf, len, NULL, 0, 0, &count, &err) != LLMOPT_AGAIN
        && count == 0)
    {
        return -1;
    }

    if (llmopt_json_parse(buf, len, NULL, 0, 0, &count, &err) == LLMOPT_ERROR)
    {
        return -1;
    }

    d->toks = malloc(sizeof(llmopt_json_tok_t) * (count + 1));

    if (llmopt_json_parse(buf, len, d->toks, count + 1, 0, &d->ntoks, &err)
        != LLMOPT_OK)
    {
        free(d->toks);
        d->toks = NULL;
        return -1;
    }

    return 0;
}


/*
 * Field by field: objects whatever their order, arrays in order, strings
 * once decoded, numbers and literals as written.  On a difference, why
 * names the path.
 */

static int
test_same(const test_doc_t *a, int ai, const test_doc_t *b, int bi,
    char *path, size_t plen, char *why, size_t wlen)
{
    int                 k, n, ak, bk, bv;
    size_t              at, la, lb;
    unsigned char      *sa, *sb;
    llmopt_json_kind_e  ka, kb;

    ka = llmopt_json_kind(a->buf, &a->toks[ai]);
    kb = llmopt_json_kind(b->buf, &b->toks[bi]);
    at = strlen(path);

    if (ka != kb) {
        snprintf(why, wlen, "%s: %s against %s", path,
                 llmopt_json_kind_name(ka), llmopt_json_kind_name(kb));
        return 0;
    }

    switch (ka) {

    case LLMOPT_JSON_OBJECT:
        n = a->toks[ai].size;

        if (n != b->toks[bi].size) {
            snprintf(why, wlen, "%s: %d members against %d", path, n,
                     b->toks[bi].size);
            return 0;
        }

        ak = ai + 1;

        for (k = 0; k < n; k++) {
            la = llmopt_json_unescape(NULL, a->buf, &a->toks[ak]);
            sa = malloc(la + 1);
            llmopt_json_unescape(sa, a->buf, &a->toks[ak]);
            sa[la] = '\0';

            bv = llmopt_json_member(b->buf, b->toks, b->ntoks, (unsigned) bi,
                                    (const char *) sa, la);

            snprintf(path + at, plen - at, ".%s", sa);
            free(sa);

            if (bv < 0) {
                snprintf(why, wlen, "%s: missing on the right", path);
                return 0;
            }

            if (!test_same(a, ak + 1, b, bv, path, plen, why, wlen)) {
                return 0;
            }

            path[at] = '\0';
            ak = (int) llmopt_json_skip(a->toks, a->ntoks, (unsigned) ak + 1);
        }

        return 1;

    case LLMOPT_JSON_ARRAY:
        n = a->toks[ai].size;

        if (n != b->toks[bi].size) {
            snprintf(why, wlen, "%s: %d elements against %d", path, n,
                     b->toks[bi].size);
            return 0;
        }

        ak = ai + 1;
        bk = bi + 1;

        for (k = 0; k < n; k++) {
            snprintf(path + at, plen - at, "[%d]", k);

            if (!test_same(a, ak, b, bk, path, plen, why, wlen)) {
                return 0;
            }

            path[at] = '\0';
            ak = (int) llmopt_json_skip(a->toks, a->ntoks, (unsigned) ak);
            bk = (int) llmopt_json_skip(b->toks, b->ntoks, (unsigned) bk);
        }

        return 1;

    case LLMOPT_JSON_STRING:
        la = llmopt_json_unescape(NULL, a->buf, &a->toks[ai]);
        lb = llmopt_json_unescape(NULL, b->buf, &b->toks[bi]);
        sa = malloc(la + 1);
        sb = malloc(lb + 1);
        llmopt_json_unescape(sa, a->buf, &a->toks[ai]);
        llmopt_json_unescape(sb, b->buf, &b->toks[bi]);

        k = (la == lb && memcmp(sa, sb, la) == 0);

        if (!k) {
            snprintf(why, wlen, "%s: \"%.*s\" against \"%.*s\"", path,
                     (int) (la > 200 ? 200 : la), sa,
                     (int) (lb > 200 ? 200 : lb), sb);
        }

        free(sa);
        free(sb);
        return k;

    default:
        la = (size_t) (a->toks[ai].end - a->toks[ai].start);
        lb = (size_t) (b->toks[bi].end - b->toks[bi].start);

        if (la != lb
            || memcmp(a->buf + a->toks[ai].start, b->buf + b->toks[bi].start,
                      la) != 0)
        {
            snprintf(why, wlen, "%s: %.*s against %.*s", path, (int) la,
                     a->buf + a->toks[ai].start, (int) lb,
                     b->buf + b->toks[bi].start);
            return 0;
        }

        return 1;
    }
}


static int
test_same_json(const unsigned char *a, size_t alen, const unsigned char *b,
    size_t blen, char *why, size_t wlen)
{
    int         same;
    char        path[512];
    test_doc_t  da, db;

    if (test_parse(a, alen, &da) != 0) {
        snprintf(why, wlen, "the left side is not JSON: %.*s",
                 (int) (alen > 300 ? 300 : alen), a);
        return 0;
    }

    if (test_parse(b, blen, &db) != 0) {
        free(da.toks);
        snprintf(why, wlen, "the right side is not JSON: %.*s",
                 (int) (blen > 300 ? 300 : blen), b);
        return 0;
    }

    path[0] = '\0';
    same = test_same(&da, 0, &db, 0, path, sizeof(path), why, wlen);

    free(da.toks);
    free(db.toks);

    return same;
}


static llmopt_dialect_e
test_dialect(const char *s)
{
    if (strcmp(s, "responses") == 0) {
        return LLMOPT_DIALECT_RESPONSES;
    }

    return strcmp(s, "openai") == 0 ? LLMOPT_DIALECT_OPENAI
                                    : LLMOPT_DIALECT_ANTHROPIC;
}


static void
test_x(const test_case_t *c, llmopt_xlate_t *x, llmopt_dialect_e from,
    llmopt_dialect_e to)
{
    memset(x, 0, sizeof(*x));

    x->client = from;
    x->upstream = to;
    x->max_tokens = c->max_tokens;
    x->created = TEST_CREATED;
    x->drop_unsupported = c->drop;
}


/*
 * A request (response 0) or an answer (1) translated, the output grown on
 * LLMOPT_AGAIN: first into 16 bytes, which must be too small and say what
 * is needed.
 */

static int
test_translate(int response, llmopt_xlate_t *x, const unsigned char *in,
    size_t len, unsigned char **out, size_t *out_len, llmopt_err_t *err)
{
    int                 rc, pass;
    test_doc_t          d;
    llmopt_xlate_out_t  o;

    if (test_parse(in, len, &d) != 0) {
        return LLMOPT_DECLINED;
    }

    o.data = malloc(16);
    o.len = 0;
    o.cap = 16;
    rc = LLMOPT_AGAIN;

    for (pass = 0; pass < 2 && rc == LLMOPT_AGAIN; pass++) {
        if (pass == 1) {
            o.cap = o.len;
            o.data = realloc(o.data, o.cap);
            o.len = 0;
        }

        rc = response
             ? llmopt_translate_response(x, in, len, d.toks, d.ntoks, &o, err)
             : llmopt_translate_request(x, in, len, d.toks, d.ntoks, &o, err);
    }

    if (rc == LLMOPT_OK && o.len > o.cap) {
        rc = LLMOPT_DECLINED;
    }

    free(d.toks);
    *out = o.data;
    *out_len = o.len;

    return rc;
}


static int
test_request(llmopt_xlate_t *x, const unsigned char *in, size_t len,
    unsigned char **out, size_t *out_len, llmopt_err_t *err)
{
    return test_translate(0, x, in, len, out, out_len, err);
}


static int
test_response(llmopt_xlate_t *x, const unsigned char *in, size_t len,
    unsigned char **out, size_t *out_len)
{
    int           rc;
    llmopt_err_t  err;

    rc = test_translate(1, x, in, len, out, out_len, &err);

    if (rc == LLMOPT_ERROR) {
        diag("%s", err.msg);
    }

    return rc;
}


/*
 * A stream fed in pieces: split 0 whole, 1 a byte at a time, else at
 * random points of a generator seeded with split.  The output buffer has
 * out_cap bytes; on LLMOPT_AGAIN it is drained into the result, as the
 * glue sends it.
 */

static unsigned char *
test_stream(const llmopt_xlate_t *x, const unsigned char *in, size_t len,
    unsigned split, size_t out_cap, size_t line_cap, size_t *out_len)
{
    int                     rc;
    size_t                  pos, n, used, total, guard;
    unsigned                seed;
    size_t                  keep_cap;
    unsigned char          *line, *result, *keep;
    llmopt_xlate_out_t      o;
    llmopt_xlate_stream_t  *st;

    st = malloc(sizeof(*st));
    line = malloc(line_cap);
    o.data = malloc(out_cap);
    o.cap = out_cap;
    o.len = 0;
    result = malloc(16 * len + 65536);
    total = 0;
    seed = split * 2654435761u;
    guard = 0;

    llmopt_xlate_stream_init(st, x, line, line_cap);

    keep = NULL;

    if (x->client == LLMOPT_DIALECT_RESPONSES && test_keep != 0) {
        keep_cap = (test_keep < 0) ? LLMOPT_XLATE_KEEP_DEFAULT
                                   : (size_t) test_keep;
        keep = malloc(keep_cap);
        llmopt_xlate_stream_keep(st, keep, keep_cap);
    }

    pos = 0;

    while (pos < len && guard++ < 10 * len + 100) {
        if (split == 0) {
            n = len - pos;

        } else if (split == 1) {
            n = 1;

        } else {
            seed = seed * 1103515245u + 12345u;
            n = 1 + (seed >> 16) % 97;
            n = n > len - pos ? len - pos : n;
        }

        rc = llmopt_xlate_stream_feed(st, in + pos, n, &o, &used);
        pos += used;

        if (rc == LLMOPT_AGAIN || o.len > out_cap / 2) {
            memcpy(result + total, o.data, o.len);
            total += o.len;
            o.len = 0;
        }

        if (rc == LLMOPT_ERROR) {
            break;
        }
    }

    while (llmopt_xlate_stream_finish(st, &o) == LLMOPT_AGAIN
           && guard++ < 10 * len + 100)
    {
        memcpy(result + total, o.data, o.len);
        total += o.len;
        o.len = 0;
    }

    memcpy(result + total, o.data, o.len);
    total += o.len;

    free(st);
    free(line);
    free(keep);
    free(o.data);

    *out_len = total;

    return result;
}


/* event by event: the same names, the same data field by field */

static int
test_same_sse(const unsigned char *a, size_t alen, const unsigned char *b,
    size_t blen, char *why, size_t wlen)
{
    int                   k, side;
    size_t                len[2], pos[2], ev_len[2];
    const unsigned char  *buf[2], *end, *ev[2];
    unsigned char        *data[2];
    size_t                dlen[2];
    const unsigned char  *p, *nl;

    buf[0] = a;
    buf[1] = b;
    len[0] = alen;
    len[1] = blen;
    pos[0] = 0;
    pos[1] = 0;

    for (k = 0; ; k++) {
        for (side = 0; side < 2; side++) {
            ev[side] = NULL;
            ev_len[side] = 0;
            dlen[side] = 0;
            data[side] = malloc(len[side] + 1);

            /* skip blank lines, then one event to the next blank line */

            while (pos[side] < len[side]
                   && (buf[side][pos[side]] == '\n'
                       || buf[side][pos[side]] == '\r'))
            {
                pos[side]++;
            }

            while (pos[side] < len[side]) {
                p = buf[side] + pos[side];
                end = buf[side] + len[side];
                nl = memchr(p, '\n', (size_t) (end - p));
                nl = (nl == NULL) ? end : nl;
                pos[side] = (size_t) (nl - buf[side]) + 1;

                if (nl > p && nl[-1] == '\r') {
                    nl--;
                }

                if (nl == p) {
                    break;
                }

                if (nl - p >= 7 && memcmp(p, "event: ", 7) == 0) {
                    ev[side] = p + 7;
                    ev_len[side] = (size_t) (nl - p - 7);

                } else if (nl - p >= 6 && memcmp(p, "data: ", 6) == 0) {
                    memcpy(data[side] + dlen[side], p + 6,
                           (size_t) (nl - p - 6));
                    dlen[side] += (size_t) (nl - p - 6);
                }
            }
        }

        if (dlen[0] == 0 || dlen[1] == 0) {
            side = (dlen[0] == dlen[1]);

            if (!side) {
                snprintf(why, wlen, "event %d: only on the %s", k,
                         dlen[0] ? "left" : "right");
            }

            free(data[0]);
            free(data[1]);
            return side;
        }

        if (ev_len[0] != ev_len[1]
            || (ev_len[0] && memcmp(ev[0], ev[1], ev_len[0]) != 0))
        {
            snprintf(why, wlen, "event %d: \"%.*s\" against \"%.*s\"", k,
                     (int) ev_len[0], ev[0] ? (const char *) ev[0] : "",
                     (int) ev_len[1], ev[1] ? (const char *) ev[1] : "");
            free(data[0]);
            free(data[1]);
            return 0;
        }

        if (data[0][0] == '{' || data[1][0] == '{') {
            side = test_same_json(data[0], dlen[0], data[1], dlen[1], why,
                                  wlen);
            if (!side) {
                size_t  at = strlen(why);

                snprintf(why + at, wlen - at, " (event %d)", k);
            }

        } else {
            side = (dlen[0] == dlen[1] && memcmp(data[0], data[1], dlen[0])
                                          == 0);
            if (!side) {
                snprintf(why, wlen, "event %d: %.*s against %.*s", k,
                         (int) dlen[0], data[0], (int) dlen[1], data[1]);
            }
        }

        free(data[0]);
        free(data[1]);

        if (!side) {
            return 0;
        }
    }
}


static void
test_case(const test_case_t *c)
{
    int                rc, same, status;
    char               why[1024], list[512];
    size_t             in_len, exp_len, out_len, back_len, again_len, n;
    unsigned           k, split;
    unsigned char     *in, *exp, *out, *back, *again, *first;
    llmopt_err_t       err;
    llmopt_xlate_t     x, x2;
    test_doc_t         d;
    llmopt_dialect_e   from, to;
    llmopt_xlate_out_t o;

    from = test_dialect(c->from);
    to = test_dialect(c->to);

    in = test_read(c->input, &in_len);
    if (in == NULL) {
        ok(0, "%s: read %s", c->kind, c->input);
        return;
    }

    exp = NULL;
    exp_len = 0;

    if (strcmp(c->kind, "refuse") != 0) {
        exp = test_read(c->expected, &exp_len);
        if (exp == NULL) {
            ok(0, "%s: read %s", c->kind, c->expected);
            free(in);
            return;
        }
    }

    /* a request goes from the client to the upstream, the rest back */

    if (strncmp(c->kind, "request", 7) == 0
        || strcmp(c->kind, "refuse") == 0)
    {
        test_x(c, &x, from, to);

    } else {
        test_x(c, &x, to, from);
    }

    test_keep = c->keep;

    memcpy(x.json_tool_name, c->json_tool, strlen(c->json_tool));
    x.json_tool_len = strlen(c->json_tool);
    x.json_tool = (x.json_tool_len > 0);
    x.include_usage = (unsigned) c->include_usage;

    if (strcmp(c->kind, "refuse") == 0) {
        rc = test_request(&x, in, in_len, &out, &out_len, &err);
        snprintf(why, sizeof(why), "\"%s\"", c->expected);

        ok(rc == LLMOPT_ERROR && err.status == 400
           && strstr(err.msg, why) != NULL,
           "%s -> %s: %s refused, naming %s", c->from, c->to, c->input,
           c->expected);
        if (rc == LLMOPT_ERROR) {
            diag("%s", err.msg);
        }

        free(out);
        free(in);
        return;
    }

    if (strncmp(c->kind, "request", 7) == 0) {
        rc = test_request(&x, in, in_len, &out, &out_len, &err);
        if (rc != LLMOPT_OK) {
            ok(0, "%s -> %s: %s translated (%s)", c->from, c->to, c->input,
               rc == LLMOPT_ERROR ? err.msg : "no");
            free(in);
            free(exp);
            return;
        }

        same = test_same_json(out, out_len, exp, exp_len, why, sizeof(why));
        ok(same, "%s -> %s: %s equals %s field by field", c->from, c->to,
           c->input, c->expected);
        if (!same) {
            diag("%s", why);
            diag("got %.*s", (int) out_len, out);
        }

        list[0] = '\0';
        for (k = 0; k < x.n_dropped && k < LLMOPT_XLATE_MAX_DROPPED; k++) {
            n = strlen(list);
            snprintf(list + n, sizeof(list) - n, "%s%s", k ? "," : "",
                     x.dropped[k]);
        }

        is_str(list, c->dropped, "%s -> %s: %s drops exactly what it lists",
               c->from, c->to, c->input);

        if (strcmp(c->kind, "request-pair") == 0) {
            /* the other way, and both round trips */
            test_x(c, &x2, to, from);
            rc = test_request(&x2, exp, exp_len, &back, &back_len, &err);
            same = (rc == LLMOPT_OK)
                   && test_same_json(back, back_len, in, in_len, why,
                                     sizeof(why));
            ok(same, "%s -> %s: %s equals %s field by field", c->to, c->from,
               c->expected, c->input);
            if (!same) {
                diag("%s", rc == LLMOPT_OK ? why : err.msg);
            }
            free(back);

            test_x(c, &x2, to, from);
            rc = test_request(&x2, out, out_len, &back, &back_len, &err);
            same = (rc == LLMOPT_OK)
                   && test_same_json(back, back_len, in, in_len, why,
                                     sizeof(why));
            ok(same, "%s: round trip %s -> %s -> %s is lossless", c->input,
               c->from, c->to, c->from);
            if (!same) {
                diag("%s", rc == LLMOPT_OK ? why : err.msg);
            }

            test_x(c, &x2, from, to);
            rc = test_request(&x2, back, back_len, &again, &again_len, &err);
            same = (rc == LLMOPT_OK)
                   && test_same_json(again, again_len, exp, exp_len, why,
                                     sizeof(why));
            ok(same, "%s: round trip %s -> %s -> %s is lossless",
               c->expected, c->to, c->from, c->to);
            if (!same) {
                diag("%s", rc == LLMOPT_OK ? why : err.msg);
            }

            free(back);
            free(again);
        }

        free(out);
        free(in);
        free(exp);
        return;
    }

    if (strncmp(c->kind, "response", 8) == 0) {
        rc = test_response(&x, in, in_len, &out, &out_len);
        same = (rc == LLMOPT_OK)
               && test_same_json(out, out_len, exp, exp_len, why, sizeof(why));
        ok(same, "%s answer -> %s: %s equals %s field by field", c->from,
           c->to, c->input, c->expected);
        if (rc == LLMOPT_OK && !same) {
            diag("%s", why);
            diag("got %.*s", (int) out_len, out);
        }

        if (strcmp(c->kind, "response-pair") == 0 && rc == LLMOPT_OK) {
            test_x(c, &x2, from, to);
            rc = test_response(&x2, exp, exp_len, &back, &back_len);
            same = (rc == LLMOPT_OK)
                   && test_same_json(back, back_len, in, in_len, why,
                                     sizeof(why));
            ok(same, "%s answer -> %s: %s equals %s field by field", c->to,
               c->from, c->expected, c->input);
            if (!same && rc == LLMOPT_OK) {
                diag("%s", why);
            }
            free(back);

            rc = test_response(&x2, out, out_len, &back, &back_len);
            same = (rc == LLMOPT_OK)
                   && test_same_json(back, back_len, in, in_len, why,
                                     sizeof(why));
            ok(same, "%s: answer round trip %s -> %s -> %s is lossless",
               c->input, c->from, c->to, c->from);
            if (!same && rc == LLMOPT_OK) {
                diag("%s", why);
            }
            free(back);
        }

        free(out);
        free(in);
        free(exp);
        return;
    }

    if (strcmp(c->kind, "error") == 0) {
        o.data = malloc(4096);
        o.cap = 4096;
        o.len = 0;

        if (test_parse(in, in_len, &d) != 0) {
            d.toks = NULL;
            d.ntoks = 0;
        }

        rc = llmopt_translate_error(&x, c->status, in, in_len, d.toks,
                                    d.ntoks, &o, &status);
        same = (rc == LLMOPT_OK)
               && test_same_json(o.data, o.len, exp, exp_len, why,
                                 sizeof(why));
        ok(same && status == c->client_status,
           "%s error %d -> %s: %s equals %s, status %d", c->from, c->status,
           c->to, c->input, c->expected, c->client_status);
        if (!same && rc == LLMOPT_OK) {
            diag("%s", why);
        }
        if (status != c->client_status) {
            diag("status %d", status);
        }

        free(d.toks);
        free(o.data);
        free(in);
        free(exp);
        return;
    }

    /* stream: every way of splitting gives the very same bytes */

    first = test_stream(&x, in, in_len, 0, 4 * in_len + 65536,
                        LLMOPT_XLATE_LINE_DEFAULT, &out_len);

    same = test_same_sse(first, out_len, exp, exp_len, why, sizeof(why));
    ok(same, "%s stream -> %s: %s equals %s event by event", c->from, c->to,
       c->input, c->expected);
    if (!same) {
        diag("%s", why);
        diag("got %.*s", (int) out_len, first);
    }

    for (split = 1; split <= TEST_SPLITS + 1; split++) {
        out = test_stream(&x, in, in_len, split, 4 * in_len + 65536,
                          LLMOPT_XLATE_LINE_DEFAULT, &n);
        ok(n == out_len && memcmp(out, first, n) == 0,
           "%s: %s gives the same bytes", c->input,
           split == 1 ? "one byte at a time" : "random split points");
        free(out);
    }

    /* an output buffer too small for two events: drained on LLMOPT_AGAIN */

    /* a Responses client's one event may repeat its whole output */

    k = (x.client == LLMOPT_DIALECT_RESPONSES) ? 8192 : 700;
    out = test_stream(&x, in, in_len, 3, k, LLMOPT_XLATE_LINE_MIN, &n);
    ok(n == out_len && memcmp(out, first, n) == 0,
       "%s: a %u-byte output buffer drained on LLMOPT_AGAIN gives the same "
       "bytes", c->input, k);
    free(out);

    free(first);
    free(in);
    free(exp);
}


/* the bound: an event larger than the data buffer ends the stream */

static void
test_bounds(void)
{
    size_t          len, n, i;
    unsigned char  *in, *out;
    llmopt_xlate_t  x;
    static const char  head[] = "event: message_start\ndata: {\"type\":"
        "\"message_start\",\"message\":{\"id\":\"m\",\"model\":\"c\"}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\","
        "\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\","
        "\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"";

    diag("sizeof(llmopt_xlate_stream_t) = %zu bytes",
         sizeof(llmopt_xlate_stream_t));
    ok(sizeof(llmopt_xlate_stream_t) < 16384,
       "a stream's state is under 16 KB besides its data buffer");

    len = sizeof(head) - 1 + 2000 + 8;
    in = malloc(len);
    memcpy(in, head, sizeof(head) - 1);
    for (i = 0; i < 2000; i++) {
        in[sizeof(head) - 1 + i] = 'a';
    }
    memcpy(in + sizeof(head) - 1 + 2000, "\"}}\n\n\n\n\n", 8);

    memset(&x, 0, sizeof(x));
    x.client = LLMOPT_DIALECT_OPENAI;
    x.upstream = LLMOPT_DIALECT_ANTHROPIC;

    out = test_stream(&x, in, len, 1, 65536, LLMOPT_XLATE_LINE_MIN, &n);
    out[n] = '\0';
    ok(strstr((char *) out, "exceeds the translator's bound") != NULL
       && strstr((char *) out, "aaaa") == NULL,
       "a 2 KB event in a 1 KB data buffer: an error event, no partial text");
    free(out);

    out = test_stream(&x, in, len, 1, 65536, 4096, &n);
    out[n] = '\0';
    ok(strstr((char *) out, "exceeds") == NULL
       && strstr((char *) out, "aaaa") != NULL,
       "the same event in a 4 KB buffer passes");
    free(out);
    free(in);
}


int
main(void)
{
    FILE         *f;
    char          line[1024], opt[512], *p, *tok;
    int           cases;
    size_t        n;
    test_case_t   c;

    f = fopen(TEST_DIR "MANIFEST", "r");
    ok(f != NULL, "read " TEST_DIR "MANIFEST");
    if (f == NULL) {
        return tap_done();
    }

    cases = 0;

    while (fgets(line, sizeof(line), f) != NULL) {
        if (line[0] == '#' || line[0] == '\n') {
            continue;
        }

        memset(&c, 0, sizeof(c));
        c.keep = -1;

        if (sscanf(line, "%31s %15s %15s %127s %255s", c.kind, c.from, c.to,
                   c.input, c.expected) != 5)
        {
            ok(0, "MANIFEST line: %s", line);
            continue;
        }

        /* the options after the five columns */

        p = line;
        for (tok = strtok(p, " \t\n"); tok != NULL;
             tok = strtok(NULL, " \t\n"))
        {
            snprintf(opt, sizeof(opt), "%s", tok);

            if (strncmp(opt, "max_tokens=", 11) == 0) {
                c.max_tokens = atoll(opt + 11);

            } else if (strncmp(opt, "drop=", 5) == 0) {
                c.drop = atoi(opt + 5);

            } else if (strncmp(opt, "dropped=", 8) == 0) {
                snprintf(c.dropped, sizeof(c.dropped), "%s", opt + 8);

            } else if (strncmp(opt, "include_usage=", 14) == 0) {
                c.include_usage = atoi(opt + 14);

            } else if (strncmp(opt, "json_tool=", 10) == 0) {
                n = strlen(opt + 10);
                n = n < sizeof(c.json_tool) ? n : sizeof(c.json_tool) - 1;
                memcpy(c.json_tool, opt + 10, n);

            } else if (strncmp(opt, "keep=", 5) == 0) {
                c.keep = atol(opt + 5);

            } else if (strncmp(opt, "status=", 7) == 0) {
                sscanf(opt + 7, "%d:%d", &c.status, &c.client_status);
            }
        }

        test_case(&c);
        cases++;
    }

    fclose(f);

    ok(cases >= 40, "the corpus has %d cases", cases);

    test_bounds();

    return tap_done();
}
