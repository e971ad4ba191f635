/*
 * Copyright (C) llmopt authors
 *
 * The prompt scan behind the features (llmopt_request_scan.h): one
 * bounded pass over the head and the tail of a prompt (the raw JSON
 * string bytes body[start .. end - 1] of a parsed request) for its words,
 * hashed into buckets, and its code markers.  It knows bytes, not the
 * request: llmopt_request.c calls it, not the other way round.
 */


#include <string.h>

#if (defined __SSE2__)
#include <emmintrin.h>
#endif

#include "llmopt_request_scan.h"
#include "llmopt_hash.h"


/* the prompt scan's state (llmopt_request_scan_prompt()) */

typedef struct {
    const unsigned char  *body;
    size_t                prompt_end;
    uint16_t             *counts;        /* NULL: code markers only */
    unsigned              n_words;
    unsigned              has_code;
} llmopt_request_scan_t;


static void llmopt_request_scan_prompt(const unsigned char *body,
    size_t start, size_t end, llmopt_request_scan_t *sc);
static void llmopt_request_scan(llmopt_request_scan_t *sc, size_t pos,
    size_t end);
static int llmopt_request_markers(const unsigned char *body, size_t pos,
    size_t end);
static int llmopt_request_code_at(const unsigned char *p,
    const unsigned char *end);


const unsigned char  llmopt_request_word_byte[256] = {
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x30, 0x31, 0x32, 0x33, 0x34, 0x35, 0x36, 0x37,
    0x38, 0x39, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67,
    0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f,
    0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77,
    0x78, 0x79, 0x7a, 0x00, 0x00, 0x00, 0x00, 0x5f,
    0x00, 0x61, 0x62, 0x63, 0x64, 0x65, 0x66, 0x67,
    0x68, 0x69, 0x6a, 0x6b, 0x6c, 0x6d, 0x6e, 0x6f,
    0x70, 0x71, 0x72, 0x73, 0x74, 0x75, 0x76, 0x77,
    0x78, 0x79, 0x7a, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x80, 0x81, 0x82, 0x83, 0x84, 0x85, 0x86, 0x87,
    0x88, 0x89, 0x8a, 0x8b, 0x8c, 0x8d, 0x8e, 0x8f,
    0x90, 0x91, 0x92, 0x93, 0x94, 0x95, 0x96, 0x97,
    0x98, 0x99, 0x9a, 0x9b, 0x9c, 0x9d, 0x9e, 0x9f,
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7,
    0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
    0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7,
    0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
    0xc0, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7,
    0xc8, 0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf,
    0xd0, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7,
    0xd8, 0xd9, 0xda, 0xdb, 0xdc, 0xdd, 0xde, 0xdf,
    0xe0, 0xe1, 0xe2, 0xe3, 0xe4, 0xe5, 0xe6, 0xe7,
    0xe8, 0xe9, 0xea, 0xeb, 0xec, 0xed, 0xee, 0xef,
    0xf0, 0xf1, 0xf2, 0xf3, 0xf4, 0xf5, 0xf6, 0xf7,
    0xf8, 0xf9, 0xfa, 0xfb, 0xfc, 0xfd, 0xfe, 0xff
};


unsigned
llmopt_request_has_code(const unsigned char *body, size_t start, size_t end)
{
    llmopt_request_scan_t  sc;

    sc.counts = NULL;
    llmopt_request_scan_prompt(body, start, end, &sc);

    return sc.has_code;
}


/*
 * The prompt scan: one bounded pass over the head and the tail windows of
 * the prompt.  Words are folded 8 bytes at a time into a 64-bit value and
 * hashed when they end (only when counts is set: the "words" feature asks
 * for them); code markers are tested only at bytes that can start one.
 */

static void
llmopt_request_scan_prompt(const unsigned char *body, size_t start,
    size_t end, llmopt_request_scan_t *sc)
{
    size_t  head_end, tail_start;

    sc->body = body;
    sc->prompt_end = end;
    sc->n_words = 0;
    sc->has_code = 0;

    if (start == end) {
        return;
    }

    if (end - start <= LLMOPT_REQUEST_SCAN_HEAD + LLMOPT_REQUEST_SCAN_TAIL) {
        llmopt_request_scan(sc, start, end);
        return;
    }

    head_end = start + LLMOPT_REQUEST_SCAN_HEAD;
    llmopt_request_scan(sc, start, head_end);

    /* the tail starts at a word boundary, never inside an escape */

    tail_start = end - LLMOPT_REQUEST_SCAN_TAIL;

    while (tail_start < end
           && (llmopt_request_word_byte[body[tail_start]] != 0
               || body[tail_start - 1] == '\\'))
    {
        tail_start++;
    }

    llmopt_request_scan(sc, tail_start, end);
}


/*
 * One window [pos, end) of the prompt scan.  Without counts, a window that
 * holds none of the code markers' texts is not walked at all (the walk
 * could find none), and the walk stops at the first marker.
 */

static void
llmopt_request_scan(llmopt_request_scan_t *sc, size_t pos, size_t end)
{
    uint64_t              w, h;
    size_t                n;
    unsigned char         c, lc, first;
    const unsigned char  *body;

    body = sc->body;

    if (sc->counts == NULL
        && (sc->has_code || !llmopt_request_markers(body, pos, end)))
    {
        return;
    }

    w = 0;
    n = 0;

    while (pos < end) {
        c = body[pos];
        lc = llmopt_request_word_byte[c];

        if (lc != 0) {
            w = ((w << 8) | (w >> 56)) ^ lc;
            n++;
            pos++;
            continue;
        }

        if (n != 0) {
            if (sc->counts != NULL) {
                h = llmopt_hash_mix64(w ^ (n * LLMOPT_HASH_M1));
                sc->counts[h % LLMOPT_REQUEST_WORD_BUCKETS]++;
                sc->n_words++;
            }

            /* only def, function, import and SELECT start at a word */

            first = body[pos - n];

            if (!sc->has_code
                && (first == 'd' || first == 'f' || first == 'i'
                    || first == 'S')
                && llmopt_request_code_at(body + pos - n, body + end))
            {
                sc->has_code = 1;

                if (sc->counts == NULL) {
                    return;
                }
            }

            w = 0;
            n = 0;
        }

        if (c == '\\') {
            pos += (pos + 1 < end && body[pos + 1] == 'u') ? 6 : 2;
            continue;
        }

        if ((c == '`' || c == '#') && !sc->has_code
            && llmopt_request_code_at(body + pos, body + end))
        {
            sc->has_code = 1;

            if (sc->counts == NULL) {
                return;
            }
        }

        pos++;
    }

    if (n != 0 && pos >= sc->prompt_end && sc->counts != NULL) {
        h = llmopt_hash_mix64(w ^ (n * LLMOPT_HASH_M1));
        sc->counts[h % LLMOPT_REQUEST_WORD_BUCKETS]++;
        sc->n_words++;
    }
}


/*
 * 1 when [pos, end) holds the text of a code marker that ends in it: a
 * superset of what the scan finds, which also wants a marker word to start
 * a word.  With SSE2 16 positions a step, by their first three bytes.
 */

static int
llmopt_request_markers(const unsigned char *body, size_t pos, size_t end)
{
#if (defined __SSE2__)
    unsigned  m, k;
    __m128i   v0, v1, v2;

#define llmopt_request_trio(a, b, c)                                          \
    _mm_and_si128(_mm_and_si128(_mm_cmpeq_epi8(v0, _mm_set1_epi8(a)),        \
                                _mm_cmpeq_epi8(v1, _mm_set1_epi8(b))),       \
                  _mm_cmpeq_epi8(v2, _mm_set1_epi8(c)))

    while (pos + 18 <= end) {
        v0 = _mm_loadu_si128((const __m128i *) (body + pos));
        v1 = _mm_loadu_si128((const __m128i *) (body + pos + 1));
        v2 = _mm_loadu_si128((const __m128i *) (body + pos + 2));

        m = (unsigned) _mm_movemask_epi8(
                _mm_or_si128(
                    _mm_or_si128(
                        _mm_or_si128(llmopt_request_trio('`', '`', '`'),
                                     llmopt_request_trio('#', 'i', 'n')),
                        _mm_or_si128(llmopt_request_trio('d', 'e', 'f'),
                                     llmopt_request_trio('f', 'u', 'n'))),
                    _mm_or_si128(llmopt_request_trio('i', 'm', 'p'),
                                 llmopt_request_trio('S', 'E', 'L'))));

        while (m != 0) {
            k = (unsigned) __builtin_ctz(m);

            if (llmopt_request_code_at(body + pos + k, body + end)) {
                return 1;
            }

            m &= m - 1;
        }

        pos += 16;
    }

#undef llmopt_request_trio
#endif

    for ( /* void */ ; pos < end; pos++) {
        if (llmopt_request_code_at(body + pos, body + end)) {
            return 1;
        }
    }

    return 0;
}


unsigned
llmopt_request_words(const unsigned char *body, size_t start, size_t end,
    uint16_t *counts)
{
    llmopt_request_scan_t  sc;

    memset(counts, 0, LLMOPT_REQUEST_WORD_BUCKETS * sizeof(uint16_t));

    sc.counts = counts;
    llmopt_request_scan_prompt(body, start, end, &sc);

    return sc.n_words;
}


/*
 * Code markers, tested at the start of a word or at '`' / '#': a fence
 * "```", "#include", and the words "def ", "function ", "SELECT " and
 * "import " followed by a space.  Cheap by design; see docs/FEATURES.md.
 */

static int
llmopt_request_code_at(const unsigned char *p, const unsigned char *end)
{
    size_t  left;

    left = (size_t) (end - p);

    switch (p[0]) {

    case '`':
        return left >= 3 && p[1] == '`' && p[2] == '`';

    case '#':
        return left >= 8 && memcmp(p, "#include", 8) == 0;

    case 'd':
        return left >= 4 && memcmp(p, "def ", 4) == 0;

    case 'f':
        return left >= 9 && memcmp(p, "function ", 9) == 0;

    case 'S':
        return left >= 7 && memcmp(p, "SELECT ", 7) == 0;

    case 'i':
        return left >= 7 && memcmp(p, "import ", 7) == 0;

    default:
        return 0;
    }
}
