/*
 * Copyright (C) llmopt authors
 *
 * The tokens of a parse, read: skipping a value, its kind, strings compared
 * and decoded (llmopt_json_unescape()), integers, members of an object, a
 * value's span; and the one JSON string writer of the core,
 * llmopt_json_quote().
 */


#include <string.h>

#include "llmopt_json.h"


static size_t llmopt_json_decode(const unsigned char *p,
    const unsigned char *end, unsigned char *out);


unsigned
llmopt_json_skip(const llmopt_json_tok_t *toks, unsigned ntoks, unsigned i)
{
    int       end;
    unsigned  j;

    if (toks[i].type != JSMN_OBJECT && toks[i].type != JSMN_ARRAY) {
        return i + 1;
    }

    end = toks[i].end;

    for (j = i + 1; j < ntoks && toks[j].start < end; j++) {
        /* void */
    }

    return j;
}


llmopt_json_kind_e
llmopt_json_kind(const unsigned char *buf, const llmopt_json_tok_t *tok)
{
    if (tok == NULL) {
        return LLMOPT_JSON_NONE;
    }

    switch (tok->type) {

    case JSMN_OBJECT:
        return LLMOPT_JSON_OBJECT;

    case JSMN_ARRAY:
        return LLMOPT_JSON_ARRAY;

    case JSMN_STRING:
        return LLMOPT_JSON_STRING;

    case JSMN_PRIMITIVE:
        switch (buf[tok->start]) {
        case 't':
        case 'f':
            return LLMOPT_JSON_BOOLEAN;
        case 'n':
            return LLMOPT_JSON_NULL;
        default:
            return LLMOPT_JSON_NUMBER;
        }

    default:
        return LLMOPT_JSON_NONE;
    }
}


const char *
llmopt_json_kind_name(llmopt_json_kind_e kind)
{
    switch (kind) {
    case LLMOPT_JSON_OBJECT:
        return "an object";
    case LLMOPT_JSON_ARRAY:
        return "an array";
    case LLMOPT_JSON_STRING:
        return "a string";
    case LLMOPT_JSON_NUMBER:
        return "a number";
    case LLMOPT_JSON_BOOLEAN:
        return "a boolean";
    case LLMOPT_JSON_NULL:
        return "null";
    default:
        return "a value";
    }
}


int
llmopt_json_str_eq(const unsigned char *buf, const llmopt_json_tok_t *tok,
    const char *s, size_t len)
{
    size_t                n, got;
    unsigned char         utf8[4];
    const unsigned char  *p, *end;

    p = buf + tok->start;
    end = buf + tok->end;
    n = (size_t) (end - p);

    if (n == len && memcmp(p, s, len) == 0) {
        return 1;
    }

    if (n < len || memchr(p, '\\', n) == NULL) {
        return 0;
    }

    /* validated input: escapes are well formed */

    while (p < end) {
        if (*p != '\\') {
            if (len == 0 || (unsigned char) *s != *p) {
                return 0;
            }
            p++;
            s++;
            len--;
            continue;
        }

        got = llmopt_json_decode(p, end, utf8);

        if (got == 0 || len < got || memcmp(s, utf8, got) != 0) {
            return 0;
        }

        s += got;
        len -= got;
        p += (p[1] != 'u') ? 2 : (got == 4 ? 12 : 6);
    }

    return len == 0;
}


/*
 * Decodes the escape at p (validated) into UTF-8 at out; returns its bytes.
 */

static size_t
llmopt_json_decode(const unsigned char *p, const unsigned char *end,
    unsigned char *out)
{
    unsigned  cp, lo;

    switch (p[1]) {
    case 'b':
        out[0] = '\b';
        return 1;
    case 'f':
        out[0] = '\f';
        return 1;
    case 'n':
        out[0] = '\n';
        return 1;
    case 'r':
        out[0] = '\r';
        return 1;
    case 't':
        out[0] = '\t';
        return 1;
    case 'u':
        break;
    default:
        out[0] = p[1];
        return 1;
    }

    if (end - p < 6 || llmopt_json_hex4(p + 2, &cp) != LLMOPT_OK) {
        return 0;
    }

    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (end - p < 12 || llmopt_json_hex4(p + 8, &lo) != LLMOPT_OK) {
            return 0;
        }

        cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
    }

    return llmopt_json_utf8_put(cp, out);
}


size_t
llmopt_json_utf8_put(unsigned cp, unsigned char *out)
{
    if (cp < 0x80) {
        out[0] = (unsigned char) cp;
        return 1;
    }

    if (cp < 0x800) {
        out[0] = (unsigned char) (0xc0 | (cp >> 6));
        out[1] = (unsigned char) (0x80 | (cp & 0x3f));
        return 2;
    }

    if (cp < 0x10000) {
        out[0] = (unsigned char) (0xe0 | (cp >> 12));
        out[1] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
        out[2] = (unsigned char) (0x80 | (cp & 0x3f));
        return 3;
    }

    out[0] = (unsigned char) (0xf0 | (cp >> 18));
    out[1] = (unsigned char) (0x80 | ((cp >> 12) & 0x3f));
    out[2] = (unsigned char) (0x80 | ((cp >> 6) & 0x3f));
    out[3] = (unsigned char) (0x80 | (cp & 0x3f));

    return 4;
}


size_t
llmopt_json_unescape(unsigned char *out, const unsigned char *buf,
    const llmopt_json_tok_t *tok)
{
    size_t                n, run, got;
    unsigned char         utf8[4];
    const unsigned char  *p, *end, *bs;

    p = buf + tok->start;
    end = buf + tok->end;
    n = 0;

    while (p < end) {
        bs = memchr(p, '\\', (size_t) (end - p));
        run = (size_t) ((bs != NULL ? bs : end) - p);

        if (out != NULL) {
            memcpy(out + n, p, run);
        }

        n += run;
        p += run;

        if (p == end) {
            break;
        }

        got = llmopt_json_decode(p, end, utf8);

        if (got == 0) {
            break;
        }

        if (out != NULL) {
            memcpy(out + n, utf8, got);
        }

        n += got;
        p += (p[1] != 'u') ? 2 : (got == 4 ? 12 : 6);
    }

    return n;
}


int
llmopt_json_int(const unsigned char *buf, const llmopt_json_tok_t *tok,
    int64_t *value)
{
    int                   neg;
    int64_t               v;
    const unsigned char  *p, *end;

    if (tok->type != JSMN_PRIMITIVE) {
        return LLMOPT_DECLINED;
    }

    p = buf + tok->start;
    end = buf + tok->end;
    neg = 0;

    if (p < end && *p == '-') {
        neg = 1;
        p++;
    }

    if (p == end || end - p > 18) {
        return LLMOPT_DECLINED;
    }

    v = 0;

    while (p < end) {
        if (*p < '0' || *p > '9') {
            return LLMOPT_DECLINED;
        }

        v = v * 10 + (*p++ - '0');
    }

    *value = neg ? -v : v;

    return LLMOPT_OK;
}


int
llmopt_json_member(const unsigned char *buf, const llmopt_json_tok_t *toks,
    unsigned ntoks, unsigned obj, const char *key, size_t key_len)
{
    int       found;
    unsigned  i, k;

    if (obj >= ntoks || toks[obj].type != JSMN_OBJECT) {
        return -1;
    }

    found = -1;
    i = obj + 1;

    for (k = 0; k < (unsigned) toks[obj].size && i + 1 < ntoks; k++) {
        if (llmopt_json_str_eq(buf, &toks[i], key, key_len)) {
            found = (int) (i + 1);
        }

        i = llmopt_json_skip(toks, ntoks, i + 1);
    }

    return found;
}


void
llmopt_json_value_span(const llmopt_json_tok_t *tok, size_t *start,
    size_t *end)
{
    if (tok->type == JSMN_STRING) {
        *start = (size_t) tok->start - 1;
        *end = (size_t) tok->end + 1;
        return;
    }

    *start = (size_t) tok->start;
    *end = (size_t) tok->end;
}


size_t
llmopt_json_quote(unsigned char *out, const char *s, size_t len)
{
    char           esc[6];
    size_t         i, n, k;
    unsigned char  c;
    const char    *w;

    n = 0;

    if (out != NULL) {
        out[n] = '"';
    }

    n++;

    for (i = 0; i < len; i++) {
        c = (unsigned char) s[i];
        w = esc;
        k = 2;

        switch (c) {
        case '"':
            w = "\\\"";
            break;
        case '\\':
            w = "\\\\";
            break;
        case '\n':
            w = "\\n";
            break;
        case '\r':
            w = "\\r";
            break;
        case '\t':
            w = "\\t";
            break;
        default:
            if (c < 0x20 || c == 0x7f) {
                memcpy(esc, "\\u00", 4);
                esc[4] = "0123456789abcdef"[c >> 4];
                esc[5] = "0123456789abcdef"[c & 0xf];
                k = 6;

            } else {
                w = &s[i];
                k = 1;
            }
        }

        if (out != NULL) {
            memcpy(out + n, w, k);
        }

        n += k;
    }

    if (out != NULL) {
        out[n] = '"';
    }

    return n + 1;
}
