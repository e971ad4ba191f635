
/*
 * Copyright (C) llmopt authors
 *
 * The sparse learner: tokenizer and hashing, scores, SquareCB, AdaGrad.
 */


#include <math.h>
#include <string.h>

#include "llmopt_sparse.h"
#include "llmopt_request_scan.h"


#define LLMOPT_SPARSE_MAGIC     0x6c6f7370u     /* "lösp" */
#define LLMOPT_SPARSE_VERSION   1

#define LLMOPT_SPARSE_ACC0      1.0     /* AdaGrad's prior accumulator: the
                                           first step of a weight is
                                           learning_rate times its gradient */

/* weights an update touches: the carried text, the constant, x */
#define LLMOPT_SPARSE_TOUCH                                                  \
    (LLMOPT_SPARSE_CARRY + 1 + LLMOPT_BANDIT_MAX_DIM)

#define LLMOPT_SPARSE_AHEAD     16       /* rows prefetched ahead */

/* hash seeds of the namespaces */
#define LLMOPT_SPARSE_SEED_PROMPT  0x243f6a8885a308d3ULL
#define LLMOPT_SPARSE_SEED_SYSTEM  0x13198a2e03707344ULL
#define LLMOPT_SPARSE_SEED_DENSE   0xa4093822299f31d0ULL
#define LLMOPT_SPARSE_SEED_PAIR    0x9e3779b97f4a7c15ULL


/*
 * The table: this header, then 2^bits weights, then as many AdaGrad
 * accumulators.  The weight of arm a for bucket b is w[b * stride + a]:
 * one bucket's arms share a cache line.
 */

typedef struct {
    uint32_t            magic;
    uint32_t            version;
    uint32_t            bits;
    uint32_t            stride;         /* arms rounded up to a power of 2 */
    uint32_t            n_arms;
    uint32_t            d;
    uint64_t            updates;        /* written by the writer only */
    char                pad[32];
} llmopt_sparse_head_t;


typedef struct {
    const llmopt_sparse_conf_t  *conf;
    llmopt_sparse_features_t    *f;
    uint32_t                     mask;      /* buckets - 1 */
    unsigned                     full;      /* MAX_FEATURES reached */
} llmopt_sparse_scan_t;


static unsigned llmopt_sparse_stride(unsigned n_arms);
static uint32_t llmopt_sparse_buckets(const llmopt_sparse_conf_t *conf);
static uint64_t llmopt_sparse_mix(uint64_t h);
static uint32_t llmopt_sparse_dense(unsigned i, uint32_t mask);
static void llmopt_sparse_text(llmopt_sparse_scan_t *sc, uint64_t seed,
    const unsigned char *p, size_t len);
static void llmopt_sparse_window(llmopt_sparse_scan_t *sc, uint64_t seed,
    const unsigned char *p, const unsigned char *end, uint64_t *prev);
static void llmopt_sparse_add(llmopt_sparse_scan_t *sc, uint64_t h);
static float llmopt_sparse_load(const float *w);
static void llmopt_sparse_store(float *w, float v);
static double llmopt_sparse_gamma(const llmopt_sparse_conf_t *conf,
    const void *table);


void
llmopt_sparse_conf_defaults(llmopt_sparse_conf_t *conf)
{
    memset(conf, 0, sizeof(llmopt_sparse_conf_t));

    conf->bits = LLMOPT_SPARSE_BITS;
    conf->ngrams = 2;
    conf->learning_rate = 0.5;
    conf->exploration = 20;
}


int
llmopt_sparse_conf_check(const llmopt_sparse_conf_t *conf, llmopt_err_t *err)
{
    if (conf->bits < LLMOPT_SPARSE_BITS_MIN
        || conf->bits > LLMOPT_SPARSE_BITS_MAX)
    {
        llmopt_err_set(err, 0, 0, "bits must be from %d to %d",
                       LLMOPT_SPARSE_BITS_MIN, LLMOPT_SPARSE_BITS_MAX);
        return LLMOPT_ERROR;
    }

    if (conf->ngrams != 1 && conf->ngrams != 2) {
        llmopt_err_set(err, 0, 0, "ngrams must be 1 or 2");
        return LLMOPT_ERROR;
    }

    if (!(conf->learning_rate > 0 && conf->learning_rate <= 10)) {
        llmopt_err_set(err, 0, 0, "learning_rate must be in (0, 10]");
        return LLMOPT_ERROR;
    }

    if (!(conf->exploration > 0 && conf->exploration <= 1e6)) {
        llmopt_err_set(err, 0, 0, "exploration must be in (0, 1000000]");
        return LLMOPT_ERROR;
    }

    if (conf->n_arms < 1 || conf->n_arms > LLMOPT_MAX_ARMS) {
        llmopt_err_set(err, 0, 0, "a sparse policy has 1 to %d arms",
                       LLMOPT_MAX_ARMS);
        return LLMOPT_ERROR;
    }

    if (conf->d > LLMOPT_BANDIT_MAX_DIM) {
        llmopt_err_set(err, 0, 0, "at most %d dense features",
                       LLMOPT_BANDIT_MAX_DIM);
        return LLMOPT_ERROR;
    }

    return LLMOPT_OK;
}


size_t
llmopt_sparse_size(const llmopt_sparse_conf_t *conf)
{
    return sizeof(llmopt_sparse_head_t)
           + ((size_t) 1 << conf->bits) * 2 * sizeof(float);
}


void
llmopt_sparse_init(const llmopt_sparse_conf_t *conf, void *table)
{
    llmopt_sparse_head_t  *head;

    memset(table, 0, llmopt_sparse_size(conf));

    head = table;
    head->magic = LLMOPT_SPARSE_MAGIC;
    head->version = LLMOPT_SPARSE_VERSION;
    head->bits = conf->bits;
    head->stride = llmopt_sparse_stride(conf->n_arms);
    head->n_arms = conf->n_arms;
    head->d = conf->d;
}


int
llmopt_sparse_check(const llmopt_sparse_conf_t *conf, const void *table)
{
    const llmopt_sparse_head_t  *head;

    head = table;

    if (head->magic != LLMOPT_SPARSE_MAGIC
        || head->version != LLMOPT_SPARSE_VERSION
        || head->bits != conf->bits || head->n_arms != conf->n_arms
        || head->d != conf->d
        || head->stride != llmopt_sparse_stride(conf->n_arms))
    {
        return LLMOPT_DECLINED;
    }

    return LLMOPT_OK;
}


uint64_t
llmopt_sparse_updates(const void *table)
{
    const llmopt_sparse_head_t  *head;

    head = table;

    return __atomic_load_n(&head->updates, __ATOMIC_RELAXED);
}


void
llmopt_sparse_features(const llmopt_sparse_conf_t *conf,
    const unsigned char *prompt, size_t prompt_len,
    const unsigned char *system, size_t system_len, const double *x,
    llmopt_sparse_features_t *f)
{
    double                norm;
    unsigned              i, spaces, n_system;
    llmopt_sparse_scan_t  sc;

    memset(f->seen, 0, sizeof(f->seen));
    f->n = 0;

    sc.conf = conf;
    sc.f = f;
    sc.mask = llmopt_sparse_buckets(conf) - 1;
    sc.full = 0;

    llmopt_sparse_text(&sc, LLMOPT_SPARSE_SEED_PROMPT, prompt, prompt_len);
    f->n_prompt = f->n;

    llmopt_sparse_text(&sc, LLMOPT_SPARSE_SEED_SYSTEM, system, system_len);
    n_system = f->n - f->n_prompt;

    spaces = 1 + (f->n_prompt > 0) + (n_system > 0);
    norm = 1.0 / sqrt((double) spaces);

    f->value[LLMOPT_SPARSE_PROMPT] = f->n_prompt
                                     ? norm / sqrt((double) f->n_prompt) : 0;
    f->value[LLMOPT_SPARSE_SYSTEM] = n_system
                                     ? norm / sqrt((double) n_system) : 0;

    /* the dense namespace: a constant 1 and x */

    norm = 1;

    for (i = 0; i < conf->d; i++) {
        if (isfinite(x[i])) {
            norm += x[i] * x[i];
        }
    }

    f->dense_norm = (float) (1.0 / sqrt(norm * spaces));
}


/* A text's head window and, when it is longer, its tail window. */

static void
llmopt_sparse_text(llmopt_sparse_scan_t *sc, uint64_t seed,
    const unsigned char *p, size_t len)
{
    uint64_t              prev;
    const unsigned char  *tail;

    prev = 0;

    if (len <= LLMOPT_SPARSE_HEAD + LLMOPT_SPARSE_TAIL) {
        llmopt_sparse_window(sc, seed, p, p + len, &prev);
        return;
    }

    llmopt_sparse_window(sc, seed, p, p + LLMOPT_SPARSE_HEAD, &prev);

    /* the tail starts at a word boundary: no half word */

    tail = p + len - LLMOPT_SPARSE_TAIL;

    while (tail < p + len && llmopt_request_word_byte[*tail]) {
        tail++;
    }

    prev = 0;
    llmopt_sparse_window(sc, seed, tail, p + len, &prev);
}


/*
 * The words of [p, end): each is folded 8 bytes at a time into a 64-bit
 * hash, seeded by the namespace; a pair hashes its two words' hashes.  A
 * backslash escape is a separator ("\n" is not the letter n, "\u00e9" is
 * no word).  A word cut by the window's end counts as it is.
 */

static void
llmopt_sparse_window(llmopt_sparse_scan_t *sc, uint64_t seed,
    const unsigned char *p, const unsigned char *end, uint64_t *prev)
{
    unsigned   c, k, len, pairs;
    uint64_t   h, word, acc;

    pairs = sc->conf->ngrams == 2;

    while (p < end && !sc->full) {

        c = llmopt_request_word_byte[*p];

        if (c == 0) {
            if (*p == '\\') {
                p += (p + 1 < end && p[1] == 'u') ? 6 : 2;
                p = p < end ? p : end;
                continue;
            }

            p++;
            continue;
        }

        /* a word */

        h = seed;
        acc = 0;
        k = 0;
        len = 0;

        while (p < end) {
            c = llmopt_request_word_byte[*p];

            if (c == 0) {
                break;
            }

            acc = (acc << 8) | c;
            p++;

            if (++k == 8) {
                h = (h ^ acc) * 0xff51afd7ed558ccdULL;
                acc = 0;
                k = 0;
                len += 8;
            }
        }

        len += k;
        word = llmopt_sparse_mix(h ^ acc ^ ((uint64_t) len << 56));

        llmopt_sparse_add(sc, word);

        if (pairs && *prev != 0) {
            llmopt_sparse_add(sc, llmopt_sparse_mix(*prev
                                  * LLMOPT_SPARSE_SEED_PAIR ^ word));
        }

        *prev = word;
    }
}


/* Adds the bucket of hash h unless it is there already. */

static void
llmopt_sparse_add(llmopt_sparse_scan_t *sc, uint64_t h)
{
    uint32_t                   bucket, slot;
    llmopt_sparse_features_t  *f;

    if (sc->full) {
        return;
    }

    f = sc->f;
    bucket = (uint32_t) (h >> 32) & sc->mask;
    slot = (uint32_t) (h >> 20) & (LLMOPT_SPARSE_SEEN - 1);

    /* the set holds bucket + 1; at most half full: a free slot exists */

    while (f->seen[slot] != 0) {
        if (f->seen[slot] == bucket + 1) {
            return;
        }

        slot = (slot + 1) & (LLMOPT_SPARSE_SEEN - 1);
    }

    f->seen[slot] = bucket + 1;
    f->bucket[f->n++] = bucket;

    if (f->n == LLMOPT_SPARSE_MAX_FEATURES) {
        sc->full = 1;
    }
}


void
llmopt_sparse_scores(const llmopt_sparse_conf_t *conf, const void *table,
    const llmopt_sparse_features_t *f, const double *x, double *score)
{
    float                        v, s[LLMOPT_MAX_ARMS], lane[8];
    unsigned                     i, a, k, n_arms, stride;
    uint32_t                     mask;
    const float                 *w, *row;
    const llmopt_sparse_head_t  *head;

    head = table;
    w = (const float *) (head + 1);
    n_arms = conf->n_arms;
    stride = llmopt_sparse_stride(n_arms);
    mask = llmopt_sparse_buckets(conf) - 1;

    for (a = 0; a < LLMOPT_MAX_ARMS; a++) {
        s[a] = 0;
    }

    for (k = 0; k < 8; k++) {
        lane[k] = 0;
    }

    /*
     * Text: the prompt's, then the system prompt's.  Up to 8 arms, 8 lanes
     * are summed in registers (vector code), the lanes past the arms
     * reading the next bucket, or the accumulators behind the weights, and
     * dropped; more arms, a chunk of 8 at a time.
     */

    for (i = 0; i < f->n; i++) {
        if (i + LLMOPT_SPARSE_AHEAD < f->n) {
            /* the rows are far apart: ask for one while adding another */
            __builtin_prefetch(w + (size_t) (f->bucket[i + LLMOPT_SPARSE_AHEAD]
                                             & mask) * stride);
        }

        row = w + (size_t) (f->bucket[i] & mask) * stride;
        v = f->value[i < f->n_prompt ? LLMOPT_SPARSE_PROMPT
                                     : LLMOPT_SPARSE_SYSTEM];

        if (stride <= 8) {
            for (k = 0; k < 8; k++) {
                lane[k] += row[k] * v;
            }

            continue;
        }

        for (a = 0; a < stride; a += 8) {
            for (k = 0; k < 8; k++) {
                s[a + k] += row[a + k] * v;
            }
        }
    }

    for (k = 0; k < 8; k++) {
        s[k] += lane[k];
    }

    /* dense: the constant first, bucket of index d */

    for (i = 0; i <= conf->d; i++) {
        v = i == conf->d ? 1.0f : (float) x[i];

        if (!isfinite(v) || v == 0) {
            continue;
        }

        v *= f->dense_norm;
        row = w + (size_t) llmopt_sparse_dense(i, mask) * stride;

        for (a = 0; a < n_arms; a++) {
            s[a] += llmopt_sparse_load(&row[a]) * v;
        }
    }

    for (a = 0; a < n_arms; a++) {
        score[a] = s[a];
    }
}


int
llmopt_sparse_probabilities(const llmopt_sparse_conf_t *conf,
    const void *table, const double *score, const unsigned char *allowed,
    double *prob)
{
    int       best;
    double    gamma, rest;
    unsigned  a, k;

    best = -1;
    k = 0;

    for (a = 0; a < conf->n_arms; a++) {
        prob[a] = 0;

        if (allowed != NULL && !allowed[a]) {
            continue;
        }

        k++;

        if (best < 0 || score[a] > score[best]) {
            best = (int) a;
        }
    }

    if (best < 0) {
        return -1;
    }

    gamma = llmopt_sparse_gamma(conf, table);
    rest = 1;

    for (a = 0; a < conf->n_arms; a++) {
        if ((allowed != NULL && !allowed[a]) || (int) a == best) {
            continue;
        }

        prob[a] = 1.0 / (k + gamma * (score[best] - score[a]));
        rest -= prob[a];
    }

    /* each other arm has at most 1 / k: the rest is at least 1 / k */
    prob[best] = rest;

    return best;
}


int
llmopt_sparse_select(const llmopt_sparse_conf_t *conf, const void *table,
    const llmopt_sparse_features_t *f, const double *x,
    const unsigned char *allowed, llmopt_rng_t *rng, llmopt_choice_t *choice,
    llmopt_sparse_carry_t *carry)
{
    int       best;
    double    u, sum, score[LLMOPT_MAX_ARMS], prob[LLMOPT_MAX_ARMS];
    unsigned  a, chosen;

    llmopt_sparse_scores(conf, table, f, x, score);

    best = llmopt_sparse_probabilities(conf, table, score, allowed, prob);

    if (best < 0) {
        return LLMOPT_DECLINED;
    }

    u = llmopt_rng_uniform(rng);
    sum = 0;
    chosen = (unsigned) best;

    for (a = 0; a < conf->n_arms; a++) {
        if (prob[a] <= 0) {
            continue;
        }

        sum += prob[a];

        if (u < sum) {
            chosen = a;
            break;
        }
    }

    choice->arm = chosen;
    choice->propensity = prob[chosen];
    choice->score = score[chosen];
    choice->explore = chosen != (unsigned) best;

    if (carry != NULL) {
        llmopt_sparse_carry(f, score[chosen], rng, carry);
    }

    return LLMOPT_OK;
}


void
llmopt_sparse_carry(const llmopt_sparse_features_t *f, double score,
    llmopt_rng_t *rng, llmopt_sparse_carry_t *carry)
{
    unsigned  a, i, j, n;
    uint32_t  pick[LLMOPT_SPARSE_MAX_FEATURES];

    memset(carry, 0, sizeof(llmopt_sparse_carry_t));

    carry->score = (float) score;
    carry->value[0] = f->value[0];
    carry->value[1] = f->value[1];
    carry->dense_norm = f->dense_norm;
    carry->scale = 1;

    if (f->n <= LLMOPT_SPARSE_CARRY) {
        memcpy(carry->bucket, f->bucket, f->n * sizeof(uint32_t));
        carry->n = (uint8_t) f->n;
        carry->n_prompt = (uint8_t) f->n_prompt;
        return;
    }

    /*
     * A uniform sample of LLMOPT_SPARSE_CARRY features: a partial
     * Fisher-Yates shuffle of their positions; prompt ones go first.
     */

    n = f->n;

    for (i = 0; i < n; i++) {
        pick[i] = i;
    }

    for (i = 0; i < LLMOPT_SPARSE_CARRY; i++) {
        j = i + llmopt_rng_below(rng, n - i);
        a = pick[i];
        pick[i] = pick[j];
        pick[j] = a;
    }

    carry->n = LLMOPT_SPARSE_CARRY;
    carry->scale = (float) n / LLMOPT_SPARSE_CARRY;

    j = 0;

    for (i = 0; i < LLMOPT_SPARSE_CARRY; i++) {
        if (pick[i] < f->n_prompt) {
            carry->bucket[j++] = f->bucket[pick[i]];
        }
    }

    carry->n_prompt = (uint8_t) j;

    for (i = 0; i < LLMOPT_SPARSE_CARRY; i++) {
        if (pick[i] >= f->n_prompt) {
            carry->bucket[j++] = f->bucket[pick[i]];
        }
    }
}


void
llmopt_sparse_update(const llmopt_sparse_conf_t *conf, void *table,
    void *local, unsigned arm, const llmopt_sparse_carry_t *carry,
    const float *x, double reward)
{
    float                  v, g, acc, *w, *accs, *slot[LLMOPT_SPARSE_TOUCH];
    float                  value[LLMOPT_SPARSE_TOUCH];
    double                 score, err, rate;
    size_t                 weights, at;
    unsigned               i, n, stride, n_text;
    uint32_t               mask;
    float                 *lw;
    llmopt_sparse_head_t  *head;

    head = table;
    lw = NULL;

    if (arm >= conf->n_arms || !(carry->dense_norm > 0)
        || llmopt_sparse_check(conf, table) != LLMOPT_OK)
    {
        /* an empty carry: the request's features were never taken */
        return;
    }

    if (!(reward >= 0)) {
        reward = 0;

    } else if (reward > 1) {
        reward = 1;
    }

    if (local != NULL && llmopt_sparse_check(conf, local) == LLMOPT_OK) {
        lw = (float *) ((llmopt_sparse_head_t *) local + 1);
    }

    w = (float *) (head + 1);
    weights = (size_t) 1 << conf->bits;
    accs = w + weights;
    stride = head->stride;
    mask = llmopt_sparse_buckets(conf) - 1;
    n_text = carry->n <= LLMOPT_SPARSE_CARRY ? carry->n : LLMOPT_SPARSE_CARRY;

    /* the weights the features touch, and their values */

    n = 0;

    for (i = 0; i < n_text; i++) {
        slot[n] = w + (size_t) (carry->bucket[i] & mask) * stride + arm;
        value[n++] = carry->value[i < carry->n_prompt ? LLMOPT_SPARSE_PROMPT
                                                      : LLMOPT_SPARSE_SYSTEM];
    }

    for (i = 0; i <= conf->d; i++) {
        v = i == conf->d ? 1.0f : x[i];

        if (!isfinite(v) || v == 0) {
            continue;
        }

        slot[n] = w + (size_t) llmopt_sparse_dense(i, mask) * stride + arm;
        value[n++] = v * carry->dense_norm;
    }

    if (carry->scale <= 1) {
        /* every feature is here: the score as the table has it now */
        score = 0;

        for (i = 0; i < n; i++) {
            score += *slot[i] * value[i];
        }

    } else {
        score = carry->score;
    }

    err = score - reward;

    for (i = 0; i < n; i++) {
        g = (float) err * value[i] * (i < n_text ? carry->scale : 1.0f);
        at = slot[i] - w;
        acc = accs[at] + g * g;
        accs[at] = acc;
        rate = conf->learning_rate / sqrt(LLMOPT_SPARSE_ACC0 + acc);

        /* a bucket twice in the list (a collision) takes both steps */
        llmopt_sparse_store(slot[i], (float) (*slot[i] - rate * g));

        if (lw != NULL) {
            lw[at + weights] += g * g;
            lw[at] = (float) (lw[at] - rate * g);
        }
    }

    __atomic_store_n(&head->updates, head->updates + 1, __ATOMIC_RELAXED);

    if (lw != NULL) {
        ((llmopt_sparse_head_t *) local)->updates++;
    }
}


void
llmopt_sparse_merge(const llmopt_sparse_conf_t *conf, void *dst,
    const void *src)
{
    float        *d;
    size_t        i, n;
    const float  *s;

    d = (float *) ((llmopt_sparse_head_t *) dst + 1);
    s = (const float *) ((const llmopt_sparse_head_t *) src + 1);
    n = ((size_t) 1 << conf->bits) * 2;

    for (i = 0; i < n; i++) {
        d[i] += s[i];
    }

    ((llmopt_sparse_head_t *) dst)->updates +=
        ((const llmopt_sparse_head_t *) src)->updates;
}


void
llmopt_sparse_sum(const llmopt_sparse_conf_t *conf, void *table,
    const void *a, const void *b)
{
    float                       *w;
    size_t                       i, n;
    uint64_t                     updates;
    const float                 *x, *y;
    const llmopt_sparse_head_t  *ha, *hb;

    ha = a;
    hb = b;
    w = (float *) ((llmopt_sparse_head_t *) table + 1);
    x = (const float *) (ha + 1);
    y = hb != NULL ? (const float *) (hb + 1) : NULL;
    n = ((size_t) 1 << conf->bits) * 2;

    for (i = 0; i < n; i++) {
        llmopt_sparse_store(&w[i], y != NULL ? x[i] + y[i] : x[i]);
    }

    updates = ha->updates + (hb != NULL ? hb->updates : 0);
    __atomic_store_n(&((llmopt_sparse_head_t *) table)->updates, updates,
                     __ATOMIC_RELAXED);
}


static double
llmopt_sparse_gamma(const llmopt_sparse_conf_t *conf, const void *table)
{
    double  t;

    t = (double) llmopt_sparse_updates(table);

    return conf->exploration * sqrt(1.0 + t);
}


static unsigned
llmopt_sparse_stride(unsigned n_arms)
{
    unsigned  stride;

    for (stride = 1; stride < n_arms; stride <<= 1) { /* void */ }

    return stride;
}


static uint32_t
llmopt_sparse_buckets(const llmopt_sparse_conf_t *conf)
{
    return (uint32_t) (((size_t) 1 << conf->bits)
                       / llmopt_sparse_stride(conf->n_arms));
}


/*
 * A cheap 64-bit finaliser, one multiply: its high half mixes every input
 * bit; buckets take bits 32 and up, the dedupe set bits 20 to 30.
 */

static uint64_t
llmopt_sparse_mix(uint64_t h)
{
    h ^= h >> 31;
    h *= 0xbf58476d1ce4e5b9ULL;

    return h ^ (h >> 29);
}


/* the bucket of dense feature i; i = d is the constant */

static uint32_t
llmopt_sparse_dense(unsigned i, uint32_t mask)
{
    return (uint32_t) (llmopt_sparse_mix(LLMOPT_SPARSE_SEED_DENSE + i) >> 32)
           & mask;
}


static float
llmopt_sparse_load(const float *w)
{
    float  v;

    __atomic_load(w, &v, __ATOMIC_RELAXED);

    return v;
}


static void
llmopt_sparse_store(float *w, float v)
{
    __atomic_store(w, &v, __ATOMIC_RELAXED);
}
