/*
 * Copyright (C) llmopt authors
 *
 * The exact cache's rule, decision and key (llmopt_cache.h): the body as
 * the upstream will see it, made canonical and hashed with SHA-256.
 */


#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "llmopt_cache.h"
#include "llmopt_sha256.h"


/* Where the canonical text goes: a digest, a buffer, or only counted. */

typedef struct {
    llmopt_sha256_t       *sha;
    unsigned char         *out;
    size_t                 len;
} llmopt_cache_sink_t;


/* What the walk of one body shares. */

typedef struct {
    const llmopt_cache_conf_t  *conf;
    const unsigned char        *body;
    const llmopt_json_tok_t    *toks;
    unsigned                    ntoks;
    llmopt_cache_sink_t        *sink;
} llmopt_cache_walk_t;


static void llmopt_cache_emit(llmopt_cache_sink_t *sink, const void *p,
    size_t n);
static int llmopt_cache_value(llmopt_cache_walk_t *w, unsigned i,
    unsigned *scratch, unsigned root);
static int llmopt_cache_object(llmopt_cache_walk_t *w, unsigned i,
    unsigned *scratch, unsigned root);
static void llmopt_cache_string(llmopt_cache_walk_t *w,
    const llmopt_json_tok_t *tok);
static void llmopt_cache_code_point(llmopt_cache_sink_t *sink, unsigned cp);
static unsigned llmopt_cache_excluded(const llmopt_cache_conf_t *conf,
    const unsigned char *key, size_t len);
static int llmopt_cache_key_cmp(const llmopt_cache_walk_t *w, unsigned a,
    unsigned b);
static void llmopt_cache_sort(const llmopt_cache_walk_t *w, unsigned *keys,
    unsigned n);
static void llmopt_cache_sift(const llmopt_cache_walk_t *w, unsigned *keys,
    unsigned top, unsigned n);
static void llmopt_cache_field(llmopt_sha256_t *sha, const void *p,
    size_t n);


void
llmopt_cache_conf_defaults(llmopt_cache_conf_t *conf)
{
    memset(conf, 0, sizeof(llmopt_cache_conf_t));

    conf->when = LLMOPT_CACHE_NEVER;
    conf->temperature_max = -1;

    conf->exclude[0].data = "user";
    conf->exclude[0].len = 4;
    conf->exclude[1].data = "metadata";
    conf->exclude[1].len = 8;
    conf->n_exclude = 2;
}


unsigned
llmopt_cache_control(const char *value, size_t len)
{
    size_t       i, start, end;
    unsigned     flags;
    const char  *p;

    flags = 0;
    i = 0;

    while (i < len) {
        while (i < len && (value[i] == ' ' || value[i] == '\t'
                           || value[i] == ','))
        {
            i++;
        }

        start = i;

        while (i < len && value[i] != ',') {
            i++;
        }

        end = i;

        while (end > start && (value[end - 1] == ' '
                               || value[end - 1] == '\t'))
        {
            end--;
        }

        p = value + start;

        if (end - start == 8 && strncasecmp(p, "no-cache", 8) == 0) {
            flags |= LLMOPT_CACHE_CLIENT_NO_CACHE;

        } else if (end - start == 8 && strncasecmp(p, "no-store", 8) == 0) {
            flags |= LLMOPT_CACHE_CLIENT_NO_CACHE
                     | LLMOPT_CACHE_CLIENT_NO_STORE;

        } else if (end - start == 9 && strncasecmp(p, "max-age=0", 9) == 0) {
            flags |= LLMOPT_CACHE_CLIENT_NO_CACHE;
        }
    }

    return flags;
}


void
llmopt_cache_decide(const llmopt_cache_conf_t *conf,
    const llmopt_cache_request_t *req, llmopt_cache_decision_t *d)
{
    double  t;

    memset(d, 0, sizeof(llmopt_cache_decision_t));

    if (conf->when == LLMOPT_CACHE_NEVER) {
        d->why = "rule";
        return;
    }

    if (req->shadow) {
        d->why = "shadow";
        return;
    }

    if (req->stream) {
        /* entries are JSON answers: a stream sent as one is not */
        d->why = "stream";
        return;
    }

    if (conf->when == LLMOPT_CACHE_TEMPERATURE) {
        t = req->temperature >= 0 ? req->temperature
                                  : LLMOPT_CACHE_DEFAULT_TEMPERATURE;

        if (t > conf->temperature_max) {
            d->why = "temperature";
            return;
        }
    }

    d->keyed = 1;
    d->lookup = (req->client & LLMOPT_CACHE_CLIENT_NO_CACHE) == 0;
    d->store = (req->client & LLMOPT_CACHE_CLIENT_NO_STORE) == 0;
}


int
llmopt_cache_storable(const llmopt_cache_decision_t *d, unsigned status)
{
    return d->keyed && d->store && status == 200;
}


double
llmopt_cache_temperature(const unsigned char *body,
    const llmopt_json_tok_t *toks, unsigned ntoks)
{
    int     v;
    char    num[64], *end;
    size_t  len;
    double  t;

    v = llmopt_json_member(body, toks, ntoks, 0, "temperature", 11);

    if (v < 0 || llmopt_json_kind(body, &toks[v]) != LLMOPT_JSON_NUMBER) {
        return -1;
    }

    len = (size_t) (toks[v].end - toks[v].start);

    if (len >= sizeof(num)) {
        return -1;
    }

    memcpy(num, body + toks[v].start, len);
    num[len] = '\0';

    t = strtod(num, &end);

    return (end == num + len && t >= 0) ? t : -1;
}


int
llmopt_cache_streams(const unsigned char *body,
    const llmopt_json_tok_t *toks, unsigned ntoks)
{
    int  v;

    v = llmopt_json_member(body, toks, ntoks, 0, "stream", 6);

    return v >= 0 && llmopt_json_kind(body, &toks[v]) == LLMOPT_JSON_BOOLEAN
           && body[toks[v].start] == 't';
}


size_t
llmopt_cache_unstream(const unsigned char *body,
    const llmopt_json_tok_t *toks, unsigned ntoks, unsigned char *out)
{
    size_t    len, start, vstart, end, klen;
    unsigned  k, key, n, first;

    n = (unsigned) toks[0].size;
    len = 0;
    first = 1;

    out[len++] = '{';

    for (k = 0, key = 1; k < n;
         k++, key = llmopt_json_skip(toks, ntoks, key + 1))
    {
        klen = (size_t) (toks[key].end - toks[key].start);

        if ((klen == 6 && memcmp(body + toks[key].start, "stream", 6) == 0)
            || (klen == 14
                && memcmp(body + toks[key].start, "stream_options", 14) == 0))
        {
            continue;
        }

        if (!first) {
            out[len++] = ',';
        }

        first = 0;

        /* from the key's opening quote to the end of its value */
        start = (size_t) toks[key].start - 1;
        llmopt_json_value_span(&toks[key + 1], &vstart, &end);

        memmove(out + len, body + start, end - start);
        len += end - start;
    }

    out[len++] = '}';

    return len;
}


int
llmopt_cache_canonical(const llmopt_cache_conf_t *conf,
    const unsigned char *body, const llmopt_json_tok_t *toks,
    unsigned ntoks, unsigned *scratch, unsigned char *out, size_t *len)
{
    int                  rc;
    llmopt_cache_sink_t  sink;
    llmopt_cache_walk_t  w;

    sink.sha = NULL;
    sink.out = out;
    sink.len = 0;

    w.conf = conf;
    w.body = body;
    w.toks = toks;
    w.ntoks = ntoks;
    w.sink = &sink;

    rc = ntoks > 0 ? llmopt_cache_value(&w, 0, scratch, 1) : LLMOPT_DECLINED;

    *len = sink.len;

    return rc;
}


int
llmopt_cache_key(const llmopt_cache_conf_t *conf,
    const llmopt_cache_scope_t *scope, const unsigned char *body,
    const llmopt_json_tok_t *toks, unsigned ntoks, unsigned *scratch,
    char *key)
{
    int                  rc;
    unsigned             i;
    unsigned char        dialect, digest[LLMOPT_SHA256_LEN];
    llmopt_sha256_t      sha;
    llmopt_cache_sink_t  sink;
    llmopt_cache_walk_t  w;

    static const char    hex[] = "0123456789abcdef";

    if (ntoks == 0) {
        return LLMOPT_DECLINED;
    }

    llmopt_sha256_init(&sha);

    llmopt_cache_field(&sha, "llmopt-cache/1", 14);

    dialect = (unsigned char) scope->dialect;
    llmopt_cache_field(&sha, &dialect, 1);
    llmopt_cache_field(&sha, scope->upstream.data, scope->upstream.len);

    if (conf->shared) {
        llmopt_cache_field(&sha, "shared", 6);

    } else {
        llmopt_cache_field(&sha, "tenant", 6);
        llmopt_cache_field(&sha, scope->tenant.data, scope->tenant.len);
    }

    /* the body, last: its length is not known before, so none */

    sink.sha = &sha;
    sink.out = NULL;
    sink.len = 0;

    w.conf = conf;
    w.body = body;
    w.toks = toks;
    w.ntoks = ntoks;
    w.sink = &sink;

    rc = llmopt_cache_value(&w, 0, scratch, 1);
    if (rc != LLMOPT_OK) {
        return rc;
    }

    llmopt_sha256_final(&sha, digest);

    for (i = 0; i < LLMOPT_SHA256_LEN; i++) {
        key[2 * i] = hex[digest[i] >> 4];
        key[2 * i + 1] = hex[digest[i] & 0x0f];
    }

    key[LLMOPT_CACHE_KEY_LEN] = '\0';

    return LLMOPT_OK;
}


/* A field of the scope: its length (8 bytes, little endian), its bytes. */

static void
llmopt_cache_field(llmopt_sha256_t *sha, const void *p, size_t n)
{
    unsigned       i;
    unsigned char  len[8];

    for (i = 0; i < 8; i++) {
        len[i] = (unsigned char) ((uint64_t) n >> (8 * i));
    }

    llmopt_sha256_update(sha, len, 8);
    llmopt_sha256_update(sha, p, n);
}


static void
llmopt_cache_emit(llmopt_cache_sink_t *sink, const void *p, size_t n)
{
    if (sink->sha != NULL) {
        llmopt_sha256_update(sink->sha, p, n);
    }

    if (sink->out != NULL) {
        memcpy(sink->out + sink->len, p, n);
    }

    sink->len += n;
}


/* The value toks[i] in canonical form; root: the body's root object. */

static int
llmopt_cache_value(llmopt_cache_walk_t *w, unsigned i, unsigned *scratch,
    unsigned root)
{
    int                       rc;
    unsigned                  k, j;
    const llmopt_json_tok_t  *tok;

    tok = &w->toks[i];

    switch (llmopt_json_kind(w->body, tok)) {

    case LLMOPT_JSON_OBJECT:
        return llmopt_cache_object(w, i, scratch, root);

    case LLMOPT_JSON_ARRAY:
        llmopt_cache_emit(w->sink, "[", 1);

        j = i + 1;

        for (k = 0; k < (unsigned) tok->size; k++) {
            if (k > 0) {
                llmopt_cache_emit(w->sink, ",", 1);
            }

            rc = llmopt_cache_value(w, j, scratch, 0);
            if (rc != LLMOPT_OK) {
                return rc;
            }

            j = llmopt_json_skip(w->toks, w->ntoks, j);
        }

        llmopt_cache_emit(w->sink, "]", 1);
        return LLMOPT_OK;

    case LLMOPT_JSON_STRING:
        llmopt_cache_emit(w->sink, "\"", 1);
        llmopt_cache_string(w, tok);
        llmopt_cache_emit(w->sink, "\"", 1);
        return LLMOPT_OK;

    case LLMOPT_JSON_NONE:
        return LLMOPT_DECLINED;

    default:
        llmopt_cache_emit(w->sink, w->body + tok->start,
                          (size_t) (tok->end - tok->start));
        return LLMOPT_OK;
    }
}


/*
 * An object: its keys gathered into scratch, sorted, and written with
 * their values; the values' own objects use the scratch after them.
 */

static int
llmopt_cache_object(llmopt_cache_walk_t *w, unsigned i, unsigned *scratch,
    unsigned root)
{
    int                       rc;
    unsigned                  k, m, key, n;
    const unsigned char      *name;
    const llmopt_json_tok_t  *tok;

    n = (unsigned) w->toks[i].size;
    m = 0;
    key = i + 1;

    for (k = 0; k < n; k++) {
        tok = &w->toks[key];
        name = w->body + tok->start;

        if (memchr(name, '\\', (size_t) (tok->end - tok->start)) != NULL) {
            return LLMOPT_DECLINED;
        }

        if (!root || !llmopt_cache_excluded(w->conf, name,
                                            (size_t) (tok->end - tok->start)))
        {
            scratch[m++] = key;
        }

        key = llmopt_json_skip(w->toks, w->ntoks, key + 1);
    }

    llmopt_cache_sort(w, scratch, m);

    for (k = 1; k < m; k++) {
        if (llmopt_cache_key_cmp(w, scratch[k - 1], scratch[k]) == 0) {
            return LLMOPT_DECLINED;
        }
    }

    llmopt_cache_emit(w->sink, "{", 1);

    for (k = 0; k < m; k++) {
        tok = &w->toks[scratch[k]];

        if (k > 0) {
            llmopt_cache_emit(w->sink, ",", 1);
        }

        /* a key without escapes is its own canonical form */
        llmopt_cache_emit(w->sink, "\"", 1);
        llmopt_cache_emit(w->sink, w->body + tok->start,
                          (size_t) (tok->end - tok->start));
        llmopt_cache_emit(w->sink, "\":", 2);

        rc = llmopt_cache_value(w, scratch[k] + 1, scratch + m, 0);
        if (rc != LLMOPT_OK) {
            return rc;
        }
    }

    llmopt_cache_emit(w->sink, "}", 1);

    return LLMOPT_OK;
}


/*
 * A string's bytes, escapes decoded and written again the one way: the
 * parser let no raw '"', '\\' or control byte through, so runs without
 * a backslash are canonical as they are.
 */

static void
llmopt_cache_string(llmopt_cache_walk_t *w, const llmopt_json_tok_t *tok)
{
    unsigned              cp, lo;
    const unsigned char  *p, *end, *run;

    p = w->body + tok->start;
    end = w->body + tok->end;

    while (p < end) {
        run = p;

        while (p < end && *p != '\\') {
            p++;
        }

        if (p > run) {
            llmopt_cache_emit(w->sink, run, (size_t) (p - run));
        }

        if (p >= end) {
            break;
        }

        /* an escape, valid: llmopt_json_parse() checked it */

        switch (p[1]) {
        case 'b': cp = '\b'; break;
        case 'f': cp = '\f'; break;
        case 'n': cp = '\n'; break;
        case 'r': cp = '\r'; break;
        case 't': cp = '\t'; break;

        case 'u':
            (void) llmopt_json_hex4(p + 2, &cp);

            if (cp >= 0xd800 && cp < 0xdc00 && p + 12 <= end
                && p[6] == '\\' && p[7] == 'u'
                && llmopt_json_hex4(p + 8, &lo) == LLMOPT_OK
                && lo >= 0xdc00 && lo < 0xe000)
            {
                cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
                p += 6;
            }

            p += 4;
            break;

        default:                        /* '"', '\\', '/' */
            cp = p[1];
            break;
        }

        p += 2;

        llmopt_cache_code_point(w->sink, cp);
    }
}


static void
llmopt_cache_code_point(llmopt_cache_sink_t *sink, unsigned cp)
{
    size_t         n;
    unsigned char  buf[8];

    static const char  hex[] = "0123456789abcdef";

    if (cp == '"' || cp == '\\') {
        buf[0] = '\\';
        buf[1] = (unsigned char) cp;
        n = 2;

    } else if (cp < 0x20) {
        buf[0] = '\\';
        buf[1] = 'u';
        buf[2] = '0';
        buf[3] = '0';
        buf[4] = (unsigned char) hex[cp >> 4];
        buf[5] = (unsigned char) hex[cp & 0x0f];
        n = 6;

    } else {
        n = llmopt_json_utf8_put(cp, buf);
    }

    llmopt_cache_emit(sink, buf, n);
}


static unsigned
llmopt_cache_excluded(const llmopt_cache_conf_t *conf,
    const unsigned char *key, size_t len)
{
    unsigned  i;

    if ((len == 6 && memcmp(key, "stream", 6) == 0)
        || (len == 14 && memcmp(key, "stream_options", 14) == 0))
    {
        return 1;
    }

    for (i = 0; i < conf->n_exclude; i++) {
        if (conf->exclude[i].len == len
            && memcmp(conf->exclude[i].data, key, len) == 0)
        {
            return 1;
        }
    }

    return 0;
}


/* Two key tokens by their bytes, shorter first on a common prefix. */

static int
llmopt_cache_key_cmp(const llmopt_cache_walk_t *w, unsigned a, unsigned b)
{
    int     c;
    size_t  la, lb;

    la = (size_t) (w->toks[a].end - w->toks[a].start);
    lb = (size_t) (w->toks[b].end - w->toks[b].start);

    c = memcmp(w->body + w->toks[a].start, w->body + w->toks[b].start,
               la < lb ? la : lb);

    if (c != 0) {
        return c;
    }

    return la < lb ? -1 : (la > lb ? 1 : 0);
}


/* Heapsort: no memory, n log n whatever a client sends. */

static void
llmopt_cache_sort(const llmopt_cache_walk_t *w, unsigned *keys, unsigned n)
{
    unsigned  i, t;

    if (n < 2) {
        return;
    }

    for (i = n / 2; i-- > 0; /* void */) {
        llmopt_cache_sift(w, keys, i, n);
    }

    for (i = n - 1; i > 0; i--) {
        t = keys[0];
        keys[0] = keys[i];
        keys[i] = t;

        llmopt_cache_sift(w, keys, 0, i);
    }
}


static void
llmopt_cache_sift(const llmopt_cache_walk_t *w, unsigned *keys, unsigned top,
    unsigned n)
{
    unsigned  child, t;

    for ( ;; ) {
        child = 2 * top + 1;

        if (child >= n) {
            return;
        }

        if (child + 1 < n
            && llmopt_cache_key_cmp(w, keys[child], keys[child + 1]) < 0)
        {
            child++;
        }

        if (llmopt_cache_key_cmp(w, keys[top], keys[child]) >= 0) {
            return;
        }

        t = keys[top];
        keys[top] = keys[child];
        keys[child] = t;
        top = child;
    }
}
