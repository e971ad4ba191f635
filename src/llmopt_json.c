/*
 * Copyright (C) llmopt authors
 *
 * The strict JSON scanner (llmopt_json_parse()) and the JSON number
 * grammar.  Reading the tokens it writes, and writing JSON strings, is
 * llmopt_json_tokens.c.
 */


#include <string.h>

#include "llmopt_json.h"


typedef enum {
    LLMOPT_JSON_S_VALUE = 0,        /* a value must come */
    LLMOPT_JSON_S_VALUE_OR_END,     /* after '[' */
    LLMOPT_JSON_S_KEY,              /* after ',' in an object */
    LLMOPT_JSON_S_KEY_OR_END,       /* after '{' */
    LLMOPT_JSON_S_COLON,            /* after a key */
    LLMOPT_JSON_S_NEXT,             /* after a value in a container */
    LLMOPT_JSON_S_DONE              /* the root is closed */
} llmopt_json_state_e;


typedef struct {
    const unsigned char  *buf;
    size_t                len;
    size_t                pos;
    llmopt_err_t         *err;
} llmopt_json_scan_t;


static int llmopt_json_string(llmopt_json_scan_t *s);
static int llmopt_json_escape(llmopt_json_scan_t *s);
static int llmopt_json_utf8(llmopt_json_scan_t *s);
static size_t llmopt_json_run_escaped(const unsigned char *p, size_t n);
static int llmopt_json_number(llmopt_json_scan_t *s);
static int llmopt_json_literal(llmopt_json_scan_t *s);
static int llmopt_json_fail(llmopt_json_scan_t *s, size_t offset,
    const char *what);
static int llmopt_json_unexpected(llmopt_json_scan_t *s, const char *want);


/*
 * One pass: a state machine over the bytes with a stack of open containers
 * (a bit per level, 1 = object, and the container's token index), strings
 * skipped a run at a time (llmopt_json_run) while they hold nothing that
 * needs a look.  Tokens are written exactly as jsmn (strict, parent links)
 * write them, while they fit; counting goes on to the end either way.
 */

int
llmopt_json_parse(const unsigned char *buf, size_t len,
    llmopt_json_tok_t *toks, unsigned ntoks, unsigned max_depth,
    unsigned *count, llmopt_err_t *err)
{
    int                  in_object, parent, key;
    size_t               comma, start;
    unsigned             depth, n;
    unsigned char        c;
    jsmntype_t           type;
    uint64_t             kinds[LLMOPT_JSON_MAX_DEPTH / 64];
    unsigned             open[LLMOPT_JSON_MAX_DEPTH];
    llmopt_json_scan_t   s;
    llmopt_json_state_e  state;

    *count = 0;

    s.buf = buf;
    s.len = len;
    s.pos = 0;
    s.err = err;

    if (len > LLMOPT_JSON_MAX_LEN) {
        llmopt_err_set(err, 413, 0, "The request body is too large.");
        if (err != NULL) {
            err->type = "invalid_request_error";
        }
        return LLMOPT_ERROR;
    }

    if (toks == NULL) {
        ntoks = 0;
    }

    if (max_depth == 0 || max_depth > LLMOPT_JSON_MAX_DEPTH) {
        max_depth = LLMOPT_JSON_MAX_DEPTH;
    }

    depth = 0;
    n = 0;
    in_object = 0;
    parent = -1;
    key = -1;
    comma = 0;
    state = LLMOPT_JSON_S_VALUE;

    for ( ;; ) {

        while (s.pos < len) {
            c = buf[s.pos];
            if (c != ' ' && c != '\n' && c != '\r' && c != '\t') {
                break;
            }
            s.pos++;
        }

        if (s.pos == len) {
            break;
        }

        c = buf[s.pos];

        if (n == 0 && c != '{') {
            if (c == '[' || c == '"' || c == '-' || (c >= '0' && c <= '9')
                || c == 't' || c == 'f' || c == 'n')
            {
                return llmopt_json_fail(&s, s.pos,
                                        "the request body must be a JSON "
                                        "object");
            }

            return llmopt_json_unexpected(&s, "'{'");
        }

        switch (state) {

        case LLMOPT_JSON_S_DONE:
            return llmopt_json_fail(&s, s.pos,
                                    "unexpected data after the root object");

        case LLMOPT_JSON_S_COLON:
            if (c != ':') {
                return llmopt_json_unexpected(&s, "':' after an object key");
            }

            s.pos++;
            parent = key;
            state = LLMOPT_JSON_S_VALUE;
            continue;

        case LLMOPT_JSON_S_NEXT:
            if (c == ',') {
                comma = s.pos++;
                state = in_object ? LLMOPT_JSON_S_KEY : LLMOPT_JSON_S_VALUE;
                continue;
            }

            if (c == (in_object ? '}' : ']')) {
                goto close;
            }

            return llmopt_json_unexpected(&s, in_object ? "',' or '}'"
                                                        : "',' or ']'");

        case LLMOPT_JSON_S_KEY_OR_END:
            if (c == '}') {
                goto close;
            }

            /* fall through */

        case LLMOPT_JSON_S_KEY:
            if (c == '}' && state == LLMOPT_JSON_S_KEY) {
                return llmopt_json_fail(&s, comma, "trailing comma");
            }

            if (c != '"') {
                return llmopt_json_unexpected(&s, "a string key");
            }

            start = s.pos;

            if (llmopt_json_string(&s) != LLMOPT_OK) {
                return LLMOPT_ERROR;
            }

            if (n < ntoks) {
                toks[n].type = JSMN_STRING;
                toks[n].start = (int) start + 1;
                toks[n].end = (int) s.pos - 1;
                toks[n].size = 0;
                toks[n].parent = (int) open[depth - 1];
                toks[open[depth - 1]].size++;
            }

            key = (int) n++;
            state = LLMOPT_JSON_S_COLON;
            continue;

        case LLMOPT_JSON_S_VALUE_OR_END:
            if (c == ']') {
                goto close;
            }

            /* fall through */

        case LLMOPT_JSON_S_VALUE:
            if (c == ']' && !in_object) {
                return llmopt_json_fail(&s, comma, "trailing comma");
            }

            break;
        }

        /* a value; its parent is the key before it or the array */

        if (depth != 0 && !in_object) {
            parent = (int) open[depth - 1];
        }

        start = s.pos;

        switch (c) {

        case '{':
        case '[':
            if (depth == max_depth) {
                llmopt_err_set(err, 400, s.pos, "Invalid JSON at byte %zu: "
                               "nesting deeper than %u levels", s.pos,
                               max_depth);
                if (err != NULL) {
                    err->type = "invalid_request_error";
                }
                return LLMOPT_ERROR;
            }

            in_object = (c == '{');

            if (in_object) {
                kinds[depth / 64] |= (uint64_t) 1 << (depth % 64);
                state = LLMOPT_JSON_S_KEY_OR_END;

            } else {
                kinds[depth / 64] &= ~((uint64_t) 1 << (depth % 64));
                state = LLMOPT_JSON_S_VALUE_OR_END;
            }

            if (n < ntoks) {
                toks[n].type = in_object ? JSMN_OBJECT : JSMN_ARRAY;
                toks[n].start = (int) start;
                toks[n].end = -1;
                toks[n].size = 0;
                toks[n].parent = parent;

                if (parent >= 0) {
                    toks[parent].size++;
                }
            }

            open[depth++] = n++;
            s.pos++;
            continue;

        case '"':
            if (llmopt_json_string(&s) != LLMOPT_OK) {
                return LLMOPT_ERROR;
            }

            type = JSMN_STRING;
            break;

        case '-': case '0': case '1': case '2': case '3': case '4':
        case '5': case '6': case '7': case '8': case '9':
            if (llmopt_json_number(&s) != LLMOPT_OK) {
                return LLMOPT_ERROR;
            }

            type = JSMN_PRIMITIVE;
            break;

        case 't':
        case 'f':
        case 'n':
            if (llmopt_json_literal(&s) != LLMOPT_OK) {
                return LLMOPT_ERROR;
            }

            type = JSMN_PRIMITIVE;
            break;

        default:
            return llmopt_json_unexpected(&s, "a value");
        }

        if (n < ntoks) {
            toks[n].type = type;
            toks[n].start = (int) start + (type == JSMN_STRING);
            toks[n].end = (int) s.pos - (type == JSMN_STRING);
            toks[n].size = 0;
            toks[n].parent = parent;
            toks[parent].size++;
        }

        n++;
        state = LLMOPT_JSON_S_NEXT;
        continue;

    close:

        if (open[depth - 1] < ntoks) {
            toks[open[depth - 1]].end = (int) s.pos + 1;
        }

        s.pos++;
        depth--;

        if (depth == 0) {
            state = LLMOPT_JSON_S_DONE;
            continue;
        }

        in_object = (kinds[(depth - 1) / 64] >> ((depth - 1) % 64)) & 1;
        state = LLMOPT_JSON_S_NEXT;
    }

    if (state != LLMOPT_JSON_S_DONE) {
        return llmopt_json_fail(&s, len, n == 0 ? "empty body"
                                                : "unexpected end of input");
    }

    *count = n;

    return (n > ntoks) ? LLMOPT_AGAIN : LLMOPT_OK;
}


static int
llmopt_json_string(llmopt_json_scan_t *s)
{
    const unsigned char  *buf;
    unsigned char         c;
    size_t                pos, len;

    buf = s->buf;
    len = s->len;
    pos = s->pos + 1;

    for ( ;; ) {

        pos += llmopt_json_run_escaped(buf + pos, len - pos);

        if (pos >= len) {
            return llmopt_json_fail(s, len, "unterminated string");
        }

        c = buf[pos];

        if (c == '"') {
            s->pos = pos + 1;
            return LLMOPT_OK;
        }

        if (c == '\\') {
            /* \u, or an escape that is not valid */
            s->pos = pos;
            if (llmopt_json_escape(s) != LLMOPT_OK) {
                return LLMOPT_ERROR;
            }
            pos = s->pos;
            continue;
        }

        if (c < 0x20) {
            return llmopt_json_fail(s, pos, "control character in string "
                                            "(must be escaped)");
        }

        if (c >= 0x80) {
            s->pos = pos;
            if (llmopt_json_utf8(s) != LLMOPT_OK) {
                return LLMOPT_ERROR;
            }
            pos = s->pos;
            continue;
        }

        pos++;
    }
}


/*
 * llmopt_json_run() in ASCII mode that also steps over the escapes of one
 * character after the backslash (\" \\ \/ \b \f \n \r \t), which are
 * most of the escapes of a chat body: with SSE2 it takes them out of the
 * 16-byte step's mask one by one instead of starting a new step after
 * each.  Stops at a quote, a control byte, a byte of 0x80 or above, or a
 * backslash that starts anything else (\u, an invalid escape, the end).
 */

static const unsigned char  llmopt_json_escape1[256] = {
    ['"'] = 1, ['\\'] = 1, ['/'] = 1, ['b'] = 1, ['f'] = 1, ['n'] = 1,
    ['r'] = 1, ['t'] = 1
};


static size_t
llmopt_json_run_escaped(const unsigned char *p, size_t n)
{
    size_t  i;

    i = 0;

#if (defined __SSE2__)
    {
        unsigned  m, k, step;

        while (i + 16 <= n) {
            m = llmopt_json_mask16(p + i, 1);
            step = 16;

            while (m != 0) {
                k = (unsigned) __builtin_ctz(m);

                if (p[i + k] != '\\' || i + k + 1 >= n
                    || !llmopt_json_escape1[p[i + k + 1]])
                {
                    return i + k;
                }

                if (k >= 14) {
                    /* the escape ends at the next step's start or in it */
                    step = k + 2;
                    break;
                }

                m &= ~0U << (k + 2);
            }

            i += step;
        }
    }
#endif

    for ( ;; ) {
        i += llmopt_json_run(p + i, n - i, 1);

        if (i + 1 < n && p[i] == '\\' && llmopt_json_escape1[p[i + 1]]) {
            i += 2;
            continue;
        }

        return i;
    }
}


/* s->pos is at a backslash; moves past the escape. */

static int
llmopt_json_escape(llmopt_json_scan_t *s)
{
    unsigned              cp, lo;
    const unsigned char  *p;

    if (s->pos + 1 >= s->len) {
        return llmopt_json_fail(s, s->len, "unterminated string");
    }

    p = s->buf + s->pos;

    switch (p[1]) {

    case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r':
    case 't':
        s->pos += 2;
        return LLMOPT_OK;

    case 'u':
        break;

    default:
        return llmopt_json_fail(s, s->pos, "invalid escape in string");
    }

    if (s->pos + 6 > s->len || llmopt_json_hex4(p + 2, &cp) != LLMOPT_OK) {
        return llmopt_json_fail(s, s->pos, "invalid \\u escape in string");
    }

    if (cp >= 0xdc00 && cp <= 0xdfff) {
        return llmopt_json_fail(s, s->pos, "unpaired UTF-16 surrogate in "
                                           "\\u escape");
    }

    if (cp >= 0xd800 && cp <= 0xdbff) {
        if (s->pos + 12 > s->len || p[6] != '\\' || p[7] != 'u'
            || llmopt_json_hex4(p + 8, &lo) != LLMOPT_OK
            || lo < 0xdc00 || lo > 0xdfff)
        {
            return llmopt_json_fail(s, s->pos, "unpaired UTF-16 surrogate "
                                               "in \\u escape");
        }

        s->pos += 12;
        return LLMOPT_OK;
    }

    s->pos += 6;

    return LLMOPT_OK;
}


int
llmopt_json_hex4(const unsigned char *p, unsigned *cp)
{
    unsigned  i, v;

    v = 0;

    for (i = 0; i < 4; i++) {
        if (p[i] >= '0' && p[i] <= '9') {
            v = (v << 4) | (p[i] - '0');

        } else if ((p[i] | 0x20) >= 'a' && (p[i] | 0x20) <= 'f') {
            v = (v << 4) | ((p[i] | 0x20) - 'a' + 10);

        } else {
            return LLMOPT_ERROR;
        }
    }

    *cp = v;

    return LLMOPT_OK;
}


/* s->pos is at a byte >= 0x80; moves past one well-formed UTF-8 sequence. */

static int
llmopt_json_utf8(llmopt_json_scan_t *s)
{
    unsigned              n, i;
    unsigned char         c, lo, hi;
    const unsigned char  *p;

    p = s->buf + s->pos;
    c = p[0];
    lo = 0x80;
    hi = 0xbf;

    if (c >= 0xc2 && c <= 0xdf) {
        n = 1;

    } else if (c >= 0xe0 && c <= 0xef) {
        n = 2;
        if (c == 0xe0) {
            lo = 0xa0;
        } else if (c == 0xed) {
            hi = 0x9f;
        }

    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 3;
        if (c == 0xf0) {
            lo = 0x90;
        } else if (c == 0xf4) {
            hi = 0x8f;
        }

    } else {
        return llmopt_json_fail(s, s->pos, "invalid UTF-8");
    }

    if (s->pos + n >= s->len) {
        return llmopt_json_fail(s, s->pos, "invalid UTF-8");
    }

    if (p[1] < lo || p[1] > hi) {
        return llmopt_json_fail(s, s->pos, "invalid UTF-8");
    }

    for (i = 2; i <= n; i++) {
        if (p[i] < 0x80 || p[i] > 0xbf) {
            return llmopt_json_fail(s, s->pos, "invalid UTF-8");
        }
    }

    s->pos += n + 1;

    return LLMOPT_OK;
}


static int
llmopt_json_number(llmopt_json_scan_t *s)
{
    size_t                pos, start, len, n;
    const unsigned char  *p;

    p = s->buf;
    len = s->len;
    start = s->pos;

    n = llmopt_json_number_len(p + start, len - start);
    if (n == 0) {
        goto invalid;
    }

    pos = start + n;

    /* "01", "1x": jsmn would take them whole as one primitive */

    if (pos < len && ((p[pos] >= '0' && p[pos] <= '9')
                      || (p[pos] >= 'a' && p[pos] <= 'z')
                      || (p[pos] >= 'A' && p[pos] <= 'Z')
                      || p[pos] == '.' || p[pos] == '-' || p[pos] == '+'))
    {
        goto invalid;
    }

    s->pos = pos;

    return LLMOPT_OK;

invalid:

    return llmopt_json_fail(s, start, "invalid number");
}


static int
llmopt_json_literal(llmopt_json_scan_t *s)
{
    size_t                n, left;
    const char           *word;
    const unsigned char  *p;

    p = s->buf + s->pos;
    left = s->len - s->pos;

    switch (p[0]) {
    case 't':
        word = "true";
        n = 4;
        break;
    case 'f':
        word = "false";
        n = 5;
        break;
    default:
        word = "null";
        n = 4;
        break;
    }

    if (left < n || memcmp(p, word, n) != 0
        || (left > n && ((p[n] >= 'a' && p[n] <= 'z')
                         || (p[n] >= 'A' && p[n] <= 'Z')
                         || (p[n] >= '0' && p[n] <= '9'))))
    {
        return llmopt_json_fail(s, s->pos, "invalid literal (expected "
                                           "true, false or null)");
    }

    s->pos += n;

    return LLMOPT_OK;
}


static int
llmopt_json_fail(llmopt_json_scan_t *s, size_t offset, const char *what)
{
    llmopt_err_set(s->err, 400, offset, "Invalid JSON at byte %zu: %s",
                   offset, what);

    if (s->err != NULL) {
        s->err->type = "invalid_request_error";
    }

    return LLMOPT_ERROR;
}


static int
llmopt_json_unexpected(llmopt_json_scan_t *s, const char *want)
{
    unsigned char  c;

    c = s->buf[s->pos];

    if (c >= 0x20 && c < 0x7f && c != '\'') {
        llmopt_err_set(s->err, 400, s->pos,
                       "Invalid JSON at byte %zu: expected %s, got '%c'",
                       s->pos, want, c);

    } else {
        llmopt_err_set(s->err, 400, s->pos,
                       "Invalid JSON at byte %zu: expected %s, got byte "
                       "0x%02x", s->pos, want, c);
    }

    if (s->err != NULL) {
        s->err->type = "invalid_request_error";
    }

    return LLMOPT_ERROR;
}


size_t
llmopt_json_number_len(const unsigned char *p, size_t len)
{
    size_t  pos;

    pos = 0;

    if (pos < len && p[pos] == '-') {
        pos++;
    }

    if (pos < len && p[pos] == '0') {
        pos++;

    } else if (pos < len && p[pos] >= '1' && p[pos] <= '9') {
        while (pos < len && p[pos] >= '0' && p[pos] <= '9') {
            pos++;
        }

    } else {
        return 0;
    }

    if (pos < len && p[pos] == '.') {
        pos++;

        if (pos == len || p[pos] < '0' || p[pos] > '9') {
            return 0;
        }

        while (pos < len && p[pos] >= '0' && p[pos] <= '9') {
            pos++;
        }
    }

    if (pos < len && (p[pos] == 'e' || p[pos] == 'E')) {
        pos++;

        if (pos < len && (p[pos] == '+' || p[pos] == '-')) {
            pos++;
        }

        if (pos == len || p[pos] < '0' || p[pos] > '9') {
            return 0;
        }

        while (pos < len && p[pos] >= '0' && p[pos] <= '9') {
            pos++;
        }
    }

    return pos;
}
