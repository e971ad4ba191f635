/*
 * Copyright (C) llmopt authors
 *
 * Strict JSON tokenizing into jsmn tokens.  One pass of our own validates
 * (RFC 8259, with the byte offset of any error), measures nesting, counts
 * tokens exactly and fills the caller's array with the very tokens jsmn
 * 1.1 (JSMN_STRICT, JSMN_PARENT_LINKS) would produce for the same valid
 * input -- the unit tests compare both.  jsmn's own tokenizer is not run:
 * it would be a second pass costing more than ours (see docs/FEATURES.md,
 * "Cost").  Tokens are in document order: an object's members are key,
 * value, key, value...; a key string's child is its value.
 */

#ifndef _LLMOPT_JSON_H_INCLUDED_
#define _LLMOPT_JSON_H_INCLUDED_


#include "llmopt_core.h"

#ifndef JSMN_STRICT
#define JSMN_STRICT
#endif
#ifndef JSMN_PARENT_LINKS
#define JSMN_PARENT_LINKS
#endif
#ifndef JSMN_HEADER
#define JSMN_HEADER
#endif

#include <jsmn.h>

#include <string.h>

#if (defined __SSE2__)
#include <emmintrin.h>
#endif


/*
 * start and end are byte offsets, [start, end): a string's exclude its
 * quotes, an object's or array's include the brackets.  size is the number
 * of members (object), elements (array), 1 for a key string, else 0.
 * parent is the index of the enclosing token (a key for a member's value),
 * -1 for the root.
 */
typedef jsmntok_t  llmopt_json_tok_t;

/* jsmn.h must have been read with JSMN_PARENT_LINKS everywhere */
typedef char llmopt_json_tok_check_t[
    sizeof(llmopt_json_tok_t) == 5 * sizeof(int) ? 1 : -1];


#define LLMOPT_JSON_MAX_DEPTH   1024   /* hard limit, whatever max_depth */
#define LLMOPT_JSON_MAX_LEN     0x7fffffff


typedef enum {
    LLMOPT_JSON_NONE = 0,           /* no such token */
    LLMOPT_JSON_OBJECT,
    LLMOPT_JSON_ARRAY,
    LLMOPT_JSON_STRING,
    LLMOPT_JSON_NUMBER,
    LLMOPT_JSON_BOOLEAN,
    LLMOPT_JSON_NULL
} llmopt_json_kind_e;


/*
 * Validates buf[0 .. len - 1] as one JSON object (whitespace around it is
 * allowed) and tokenizes it into toks[0 .. ntoks - 1]; toks may be NULL
 * (with any ntoks) to count only.
 *
 * Rejected, with err->status 400, err->offset and a message "Invalid JSON
 * at byte N: ...": any RFC 8259 syntax error, including what jsmn lets
 * through (trailing commas, missing ':' or ',', bad numbers and literals,
 * raw control characters, bad escapes, unpaired UTF-16 surrogates in \u
 * escapes, invalid UTF-8, data after the root), a root that is not an
 * object, and nesting deeper than max_depth (0 or anything above
 * LLMOPT_JSON_MAX_DEPTH means LLMOPT_JSON_MAX_DEPTH).  A body longer than
 * LLMOPT_JSON_MAX_LEN is an error with status 413.
 *
 * Returns LLMOPT_OK with *count set to the tokens used; LLMOPT_AGAIN with
 * *count set to the exact number of tokens the body needs when ntoks is
 * smaller (nothing in toks is meaningful then); LLMOPT_ERROR.  err->type is
 * set to "invalid_request_error" on errors.  Validation comes first: an
 * invalid body is an error whatever ntoks is.  Never allocates; uses about
 * 4 KB of C stack.
 */
int llmopt_json_parse(const unsigned char *buf, size_t len,
    llmopt_json_tok_t *toks, unsigned ntoks, unsigned max_depth,
    unsigned *count, llmopt_err_t *err);

/*
 * Index of the first token after the value toks[i] and everything inside
 * it (ntoks if none).  For a key string, i + 1 is its value.
 */
unsigned llmopt_json_skip(const llmopt_json_tok_t *toks, unsigned ntoks,
    unsigned i);

/* The kind of value of a token of a parsed buffer. */
llmopt_json_kind_e llmopt_json_kind(const unsigned char *buf,
    const llmopt_json_tok_t *tok);

/* "an object", "a string", ... for messages; "a value" for NONE. */
const char *llmopt_json_kind_name(llmopt_json_kind_e kind);

/*
 * 1 if the string token tok of buf, once its escapes are decoded, equals
 * s[0 .. len - 1], else 0.  Cheap when the token has no escapes.
 */
int llmopt_json_str_eq(const unsigned char *buf,
    const llmopt_json_tok_t *tok, const char *s, size_t len);

/*
 * Reads an integer token (an optional '-' and digits only, at most 18 of
 * them) into *value.  LLMOPT_OK, or LLMOPT_DECLINED for any other value
 * (fractions, exponents, non-numbers, too many digits).
 */
int llmopt_json_int(const unsigned char *buf, const llmopt_json_tok_t *tok,
    int64_t *value);

/*
 * Finds member key of the object token obj; returns the index of its value
 * token (the last one if the key repeats) or -1.
 */
int llmopt_json_member(const unsigned char *buf,
    const llmopt_json_tok_t *toks, unsigned ntoks, unsigned obj,
    const char *key, size_t key_len);

/*
 * The raw JSON text of the value token tok: for strings the span includes
 * the quotes.  Fills *start and *end, [start, end).
 */
void llmopt_json_value_span(const llmopt_json_tok_t *tok, size_t *start,
    size_t *end);

/*
 * Writes the string token tok of buf with its escapes decoded (UTF-8) into
 * out and returns the bytes written; with out NULL only counts them (never
 * more than the token's raw length).  The buffer must have been validated
 * by llmopt_json_parse().
 */
size_t llmopt_json_unescape(unsigned char *out, const unsigned char *buf,
    const llmopt_json_tok_t *tok);

/*
 * Writes s[0 .. len - 1] as a JSON string, quotes included, into out and
 * returns the bytes written; with out NULL only counts them (at most
 * 6 * len + 2).  '"', '\\' and every control byte (0x00-0x1f, 0x7f) are
 * escaped; other bytes are copied, so the result is valid JSON when s is
 * valid UTF-8.  The one JSON string writer of the core: the catalog's
 * conversions and the body rewrite use it.
 */
size_t llmopt_json_quote(unsigned char *out, const char *s, size_t len);

/*
 * The JSON number grammar, the one of the core: the length of the number
 * -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][-+]?[0-9]+)? that p[0 .. len - 1]
 * starts with, the longest one, or 0 if it starts with none.  What follows
 * is not looked at ("01" gives 1).  The scanner of llmopt_json_parse() and
 * the catalog's YAML-to-JSON writer use it; the usage scanner reads counts
 * byte by byte across buffers and keeps a grammar of its own.
 */
size_t llmopt_json_number_len(const unsigned char *p, size_t len);

/*
 * The code point of the 4 hex digits at p (of a \u escape) into *cp:
 * LLMOPT_OK, or LLMOPT_ERROR if one is not a hex digit.
 */
int llmopt_json_hex4(const unsigned char *p, unsigned *cp);

/*
 * Code point cp (< 0x110000) as UTF-8 at out (room for 4 bytes); returns
 * its bytes.  cp is written as it is: a caller that may hold a surrogate
 * or a value past 0x10ffff replaces it first.
 */
size_t llmopt_json_utf8_put(unsigned cp, unsigned char *out);

#if (defined __SSE2__)

/*
 * The bits of the 16 bytes at p that a JSON string cannot hold as they
 * are: '"', '\\' and control bytes, and with ascii set also 0x80 and above
 * (bit k for p[k]).
 */
static inline unsigned
llmopt_json_mask16(const unsigned char *p, int ascii)
{
    __m128i  v, m, ctl;

    v = _mm_loadu_si128((const __m128i *) p);
    ctl = _mm_set1_epi8(0x1f);

    m = _mm_or_si128(_mm_cmpeq_epi8(v, _mm_set1_epi8('"')),
                     _mm_cmpeq_epi8(v, _mm_set1_epi8('\\')));

    /* signed: 0x00-0x1f and 0x80-0xff; unsigned: 0x00-0x1f */
    m = _mm_or_si128(m, ascii
                        ? _mm_cmplt_epi8(v, _mm_set1_epi8(0x20))
                        : _mm_cmpeq_epi8(_mm_max_epu8(v, ctl), ctl));

    return (unsigned) _mm_movemask_epi8(m);
}

#endif


/*
 * The length of the run of bytes at p (at most n) that a JSON string holds
 * as they are: none is '"', '\\' or a control byte, nor, when ascii is set,
 * 0x80 or above.  p[result] is the byte to look at (if result < n).
 * 16 bytes a step with SSE2, 8 with plain 64-bit arithmetic elsewhere;
 * strings are most of a chat body, so this is its hottest loop.
 */
static inline size_t
llmopt_json_run(const unsigned char *p, size_t n, int ascii)
{
    size_t         i;
    unsigned char  c;

    i = 0;

#if (defined __SSE2__)
    {
        unsigned  bits;

        while (i + 16 <= n) {
            bits = llmopt_json_mask16(p + i, ascii);

            if (bits != 0) {
                return i + (size_t) __builtin_ctz(bits);
            }

            i += 16;
        }
    }
#else
    {
        uint64_t  w, q, b, c8, m;

        /* a flagged word goes to the byte loop, which finds the byte */

        while (i + 8 <= n) {
            memcpy(&w, p + i, 8);

            q = w ^ (0x0101010101010101ULL * '"');
            b = w ^ (0x0101010101010101ULL * '\\');
            c8 = w - 0x0101010101010101ULL * 0x20;

            m = ((q - 0x0101010101010101ULL) & ~q)
                | ((b - 0x0101010101010101ULL) & ~b)
                | (ascii ? (c8 | w) : (c8 & ~w));

            if ((m & 0x8080808080808080ULL) != 0) {
                break;
            }

            i += 8;
        }
    }
#endif

    while (i < n) {
        c = p[i];

        if (c == '"' || c == '\\' || c < 0x20 || (ascii && c >= 0x80)) {
            break;
        }

        i++;
    }

    return i;
}


#endif /* _LLMOPT_JSON_H_INCLUDED_ */
