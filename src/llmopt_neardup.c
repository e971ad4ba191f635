/*
 * Copyright (C) llmopt authors
 *
 * Near-duplicate prompts (llmopt_neardup.h): normalised words, their
 * MinHash signature, the guards and the learned acceptance.
 */


#include <math.h>
#include <string.h>

#include "llmopt_hash.h"
#include "llmopt_neardup.h"


#define LLMOPT_NEARDUP_TOKEN   64        /* bytes of a word, at most */
#define LLMOPT_NEARDUP_SEED    0x6e64757073696721ULL


typedef struct {
    const char  *word;
    const char  *digits;
} llmopt_neardup_number_t;


static void llmopt_neardup_word(llmopt_neardup_sig_t *sig, char *raw,
    size_t n, unsigned sentence_start, uint64_t *prev);
static void llmopt_neardup_shingle(llmopt_neardup_sig_t *sig, uint64_t h);
static unsigned llmopt_neardup_in(const char *const *list, const char *w);
static int llmopt_neardup_antonym(const char *w);
static unsigned llmopt_neardup_has(const uint64_t *sorted, unsigned n,
    uint64_t h);
static void llmopt_neardup_sort(uint64_t *v, unsigned n);
static void llmopt_neardup_features(const llmopt_neardup_sig_t *a,
    const llmopt_neardup_sig_t *b, double *x);


/* left out of the shingles: they rarely change what is asked */

static const char *const  llmopt_neardup_fillers[] = {
    "a", "an", "the", "please", "can", "could", "would", "will", "you",
    "me", "i", "do", "does", "did", "just", "kindly", "hey", "hi", "is",
    "are", "am", "that", "which", "to", "s", "m", "re", "ll", "ve", "d",
    "some", "thanks", NULL
};

static const char *const  llmopt_neardup_negations[] = {
    "not", "no", "never", "without", "nor", "none", "nobody", "nothing",
    "neither", "cannot", "nowhere", NULL
};

static const char *const  llmopt_neardup_prefixes[] = {
    "un", "in", "im", "dis", "non", "de", NULL
};

/* pairs: side 0, side 1 */

static const char *const  llmopt_neardup_antonyms[] = {
    "enable", "disable", "increase", "decrease", "add", "remove",
    "start", "stop", "open", "close", "true", "false", "max", "min",
    "maximum", "minimum", "before", "after", "above", "below", "buy",
    "sell", "encrypt", "decrypt", "upload", "download", "import", "export",
    "allow", "deny", "accept", "reject", "include", "exclude", "push",
    "pull", "input", "output", "left", "right", "up", "down", "win",
    "lose", "lock", "unlock", "show", "hide", "connect", "disconnect",
    "install", "uninstall", "compress", "decompress", "encode", "decode",
    "positive", "negative", "larger", "smaller", "more", "less", "higher",
    "lower", "first", "last", "ascending", "descending", "public",
    "private", "success", "failure", "hot", "cold", "fast", "slow",
    "faster", "slower", "long", "short", "love", "hate", "loves", "hates",
    "old", "new", "early", "late", "good", "bad", "best", "worst", "on",
    "off", "soft", "hard", "junior", "senior", "boiling", "freezing",
    "read", "write", "gaining", "losing", "inflation", "deflation",
    "accepting", "declining", "adds", "subtracts", "visible", "invisible",
    "possible", "impossible", "closest", "farthest", NULL
};

static const llmopt_neardup_number_t  llmopt_neardup_numbers[] = {
    { "zero", "0" }, { "one", "1" }, { "two", "2" }, { "three", "3" },
    { "four", "4" }, { "five", "5" }, { "six", "6" }, { "seven", "7" },
    { "eight", "8" }, { "nine", "9" }, { "ten", "10" }, { "eleven", "11" },
    { "twelve", "12" }, { "thirteen", "13" }, { "fourteen", "14" },
    { "fifteen", "15" }, { "sixteen", "16" }, { "seventeen", "17" },
    { "eighteen", "18" }, { "nineteen", "19" }, { "twenty", "20" },
    { "thirty", "30" }, { "forty", "40" }, { "fifty", "50" },
    { "hundred", "100" }, { "thousand", "1000" }, { "million", "1e6" },
    { "once", "1x" }, { "twice", "2x" }, { "half", "0.5" },
    { "ii", "2" }, { "iii", "3" }, { NULL, NULL }
};


void
llmopt_neardup_sign(const char *text, size_t len, llmopt_neardup_sig_t *sig)
{
    size_t          i, n;
    unsigned        start, c;
    uint64_t        prev;
    char            raw[LLMOPT_NEARDUP_TOKEN + 1];

    memset(sig, 0, sizeof(llmopt_neardup_sig_t));
    memset(sig->minhash, 0xff, sizeof(sig->minhash));

    start = 1;
    prev = 0;
    i = 0;

    while (i < len) {
        c = (unsigned char) text[i];

        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
              || (c >= '0' && c <= '9') || c >= 0x80))
        {
            if (c == '.' || c == '!' || c == '?' || c == ':') {
                start = 1;
            }

            i++;
            continue;
        }

        n = 0;

        while (i < len) {
            c = (unsigned char) text[i];

            if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
                || (c >= '0' && c <= '9') || c >= 0x80
                || ((c == '\'' || c == '.') && i + 1 < len && n > 0
                    && ((unsigned char) text[i + 1] >= 'a'
                        || ((unsigned char) text[i + 1] >= '0'
                            && (unsigned char) text[i + 1] <= '9'))
                    && (c == '\'' || (raw[n - 1] >= '0'
                                      && raw[n - 1] <= '9'))))
            {
                if (n < LLMOPT_NEARDUP_TOKEN) {
                    raw[n++] = (char) c;
                }

                i++;
                continue;
            }

            break;
        }

        raw[n] = '\0';

        llmopt_neardup_word(sig, raw, n, start, &prev);
        start = 0;
    }

    llmopt_neardup_sort(sig->words, sig->n_words);

    /* unique words */
    for (i = 0, n = 0; i < sig->n_words; i++) {
        if (n == 0 || sig->words[n - 1] != sig->words[i]) {
            sig->words[n++] = sig->words[i];
        }
    }

    sig->n_words = (uint16_t) n;

    llmopt_neardup_sort(sig->numbers, sig->n_numbers);
}


/* One word of the text, as written (raw, n bytes). */

static void
llmopt_neardup_word(llmopt_neardup_sig_t *sig, char *raw, size_t n,
    unsigned sentence_start, uint64_t *prev)
{
    int                             ant;
    size_t                          i, k;
    uint64_t                        h;
    unsigned                        upper, later_upper, digits, letters;
    unsigned                        filler;
    char                            w[LLMOPT_NEARDUP_TOKEN + 1];
    const llmopt_neardup_number_t  *num;

    upper = 0;
    later_upper = 0;
    digits = 0;
    letters = 0;

    for (i = 0; i < n; i++) {
        if (raw[i] >= 'A' && raw[i] <= 'Z') {
            upper++;
            later_upper += (i > 0);
            w[i] = (char) (raw[i] + 32);

        } else {
            w[i] = raw[i];
        }

        digits += (raw[i] >= '0' && raw[i] <= '9');
        letters += ((w[i] >= 'a' && w[i] <= 'z') || (unsigned char) w[i]
                                                    >= 0x80);
    }

    w[n] = '\0';

    /* n't is a negation; 's, 'm, 're, ... go */

    if (n > 3 && strcmp(w + n - 3, "n't") == 0) {
        sig->negations++;
        n -= 3;
        w[n] = '\0';

        if (strcmp(w, "ca") == 0) {
            strcpy(w, "can");
            n = 3;

        } else if (strcmp(w, "wo") == 0) {
            strcpy(w, "will");
            n = 4;
        }

    } else if (llmopt_neardup_in(llmopt_neardup_negations, w)) {
        sig->negations++;
    }

    for (i = 1; i < n; i++) {
        if (w[i] == '\'') {
            w[i] = '\0';
            n = i;
            break;
        }
    }

    for (num = llmopt_neardup_numbers; num->word != NULL; num++) {
        if (strcmp(w, num->word) == 0) {
            n = strlen(num->digits);
            memcpy(w, num->digits, n + 1);
            digits = 1;
            break;
        }
    }

    h = llmopt_hash64(w, n, LLMOPT_NEARDUP_SEED);

    if ((digits && (w[0] >= '0' && w[0] <= '9'))
        && sig->n_numbers < LLMOPT_NEARDUP_MARKS)
    {
        sig->numbers[sig->n_numbers++] = h;
    }

    /* entity-like: capitalised inside a sentence, an acronym, a mix of
       letters and digits ("I" alone is the pronoun) */

    filler = llmopt_neardup_in(llmopt_neardup_fillers, w);

    if (((upper && !sentence_start) || later_upper || (digits && letters))
        && !filler
        && sig->n_entities < LLMOPT_NEARDUP_MARKS)
    {
        sig->entities[sig->n_entities++] = h;
    }

    ant = llmopt_neardup_antonym(w);

    if (ant >= 0 && sig->n_antonyms < LLMOPT_NEARDUP_MARKS) {
        sig->antonyms[sig->n_antonyms++] = (uint16_t) ant;
    }

    for (k = 0; llmopt_neardup_prefixes[k] != NULL; k++) {
        i = strlen(llmopt_neardup_prefixes[k]);

        if (n >= i + 4 && memcmp(w, llmopt_neardup_prefixes[k], i) == 0
            && sig->n_stems < LLMOPT_NEARDUP_MARKS)
        {
            sig->stems[sig->n_stems++] = llmopt_hash64(w + i, n - i,
                                                       LLMOPT_NEARDUP_SEED);
        }
    }

    if (filler) {
        return;
    }

    if (sig->n_words < LLMOPT_NEARDUP_WORDS) {
        sig->words[sig->n_words++] = h;

    } else {
        sig->truncated = 1;
    }

    llmopt_neardup_shingle(sig, h);

    if (*prev != 0) {
        llmopt_neardup_shingle(sig, llmopt_hash_mix64(*prev * LLMOPT_HASH_M1
                                                      ^ h));
    }

    *prev = h;
}


static void
llmopt_neardup_shingle(llmopt_neardup_sig_t *sig, uint64_t h)
{
    unsigned  k;
    uint32_t  v;

    sig->shingles++;

    for (k = 0; k < LLMOPT_NEARDUP_K; k++) {
        v = (uint32_t) (llmopt_hash_mix64(h + (k + 1) * LLMOPT_HASH_M1)
                        >> 32);

        if (v < sig->minhash[k]) {
            sig->minhash[k] = v;
        }
    }
}


double
llmopt_neardup_similarity(const llmopt_neardup_sig_t *a,
    const llmopt_neardup_sig_t *b)
{
    unsigned  k, same;

    if (a->shingles == 0 || b->shingles == 0) {
        return a->shingles == b->shingles ? 1 : 0;
    }

    same = 0;

    for (k = 0; k < LLMOPT_NEARDUP_K; k++) {
        same += (a->minhash[k] == b->minhash[k]);
    }

    return (double) same / LLMOPT_NEARDUP_K;
}


unsigned
llmopt_neardup_guards(const llmopt_neardup_sig_t *a,
    const llmopt_neardup_sig_t *b)
{
    unsigned                     i, j, k, guards, found;
    const llmopt_neardup_sig_t  *x, *y;

    guards = 0;

    if (a->truncated || b->truncated) {
        /* a few-shot prompt: the same examples, another question at the
           end; its words are not all kept */
        guards |= LLMOPT_NEARDUP_GUARD_LONG;
    }

    if (a->negations != b->negations) {
        guards |= LLMOPT_NEARDUP_GUARD_NEGATION;
    }

    if (a->n_numbers != b->n_numbers
        || memcmp(a->numbers, b->numbers, a->n_numbers * sizeof(uint64_t))
           != 0)
    {
        guards |= LLMOPT_NEARDUP_GUARD_NUMBER;
    }

    for (k = 0; k < 2; k++) {
        x = k ? b : a;
        y = k ? a : b;

        /* an entity of one that the other never names */

        for (i = 0; i < x->n_entities; i++) {
            if (!llmopt_neardup_has(y->words, y->n_words, x->entities[i])) {
                guards |= LLMOPT_NEARDUP_GUARD_ENTITY;
            }
        }

        /* a word of one whose antonym the other has instead */

        for (i = 0; i < x->n_antonyms; i++) {
            found = 0;

            for (j = 0; j < y->n_antonyms; j++) {
                found |= (y->antonyms[j] == x->antonyms[i]);
            }

            if (found) {
                continue;
            }

            for (j = 0; j < y->n_antonyms; j++) {
                if (y->antonyms[j] == (x->antonyms[i] ^ 1)) {
                    guards |= LLMOPT_NEARDUP_GUARD_ANTONYM;
                }
            }
        }

        /* "impossible" against "possible" */

        for (i = 0; i < x->n_stems; i++) {
            if (llmopt_neardup_has(y->words, y->n_words, x->stems[i])
                && !llmopt_neardup_has(x->words, x->n_words, x->stems[i]))
            {
                guards |= LLMOPT_NEARDUP_GUARD_ANTONYM;
            }
        }
    }

    return guards;
}


void
llmopt_neardup_accept_init(llmopt_neardup_accept_t *acc, double threshold)
{
    memset(acc, 0, sizeof(llmopt_neardup_accept_t));

    /* sigmoid(10 (similarity - threshold)) */
    acc->w[0] = -10 * threshold;
    acc->w[1] = 10;
    acc->learning_rate = 0.5;
}


double
llmopt_neardup_accept(const llmopt_neardup_accept_t *acc,
    const llmopt_neardup_sig_t *a, const llmopt_neardup_sig_t *b)
{
    double    x[LLMOPT_NEARDUP_FEATURES], z;
    unsigned  i;

    if (llmopt_neardup_guards(a, b) != 0) {
        return 0;
    }

    llmopt_neardup_features(a, b, x);

    z = 0;

    for (i = 0; i < LLMOPT_NEARDUP_FEATURES; i++) {
        z += acc->w[i] * x[i];
    }

    return 1 / (1 + exp(-z));
}


void
llmopt_neardup_feedback(llmopt_neardup_accept_t *acc,
    const llmopt_neardup_sig_t *a, const llmopt_neardup_sig_t *b,
    unsigned good)
{
    double    x[LLMOPT_NEARDUP_FEATURES], p;
    unsigned  i;

    if (llmopt_neardup_guards(a, b) != 0) {
        return;
    }

    p = llmopt_neardup_accept(acc, a, b);
    llmopt_neardup_features(a, b, x);

    for (i = 0; i < LLMOPT_NEARDUP_FEATURES; i++) {
        acc->w[i] += acc->learning_rate * ((good ? 1 : 0) - p) * x[i];
    }

    acc->updates++;
}


/*
 * 1, the similarity, the share of the content words in one prompt only,
 * and the ratio of the content words' counts.
 */

static void
llmopt_neardup_features(const llmopt_neardup_sig_t *a,
    const llmopt_neardup_sig_t *b, double *x)
{
    unsigned  i, common, all;

    common = 0;

    for (i = 0; i < a->n_words; i++) {
        common += llmopt_neardup_has(b->words, b->n_words, a->words[i]);
    }

    all = a->n_words + b->n_words - common;

    x[0] = 1;
    x[1] = llmopt_neardup_similarity(a, b);
    x[2] = all ? (double) (all - common) / all : 0;
    x[3] = (a->n_words && b->n_words)
           ? (double) (a->n_words < b->n_words ? a->n_words : b->n_words)
             / (a->n_words < b->n_words ? b->n_words : a->n_words)
           : 1;
}


static unsigned
llmopt_neardup_in(const char *const *list, const char *w)
{
    for ( /* void */ ; *list != NULL; list++) {
        if (strcmp(*list, w) == 0) {
            return 1;
        }
    }

    return 0;
}


/* pair * 2 + side of w in the antonym list, or -1 */

static int
llmopt_neardup_antonym(const char *w)
{
    int  i;

    for (i = 0; llmopt_neardup_antonyms[i] != NULL; i++) {
        if (strcmp(llmopt_neardup_antonyms[i], w) == 0) {
            return i;
        }
    }

    return -1;
}


static unsigned
llmopt_neardup_has(const uint64_t *sorted, unsigned n, uint64_t h)
{
    unsigned  lo, hi, mid;

    lo = 0;
    hi = n;

    while (lo < hi) {
        mid = lo + (hi - lo) / 2;

        if (sorted[mid] == h) {
            return 1;
        }

        if (sorted[mid] < h) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    return 0;
}


/* insertion sort: at most LLMOPT_NEARDUP_WORDS values */

static void
llmopt_neardup_sort(uint64_t *v, unsigned n)
{
    unsigned  i, j;
    uint64_t  t;

    for (i = 1; i < n; i++) {
        t = v[i];

        for (j = i; j > 0 && v[j - 1] > t; j--) {
            v[j] = v[j - 1];
        }

        v[j] = t;
    }
}
