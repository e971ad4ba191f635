
/*
 * Copyright (C) llmopt authors
 *
 * offline-eval: what would another policy have earned, judged from the
 * decisions llmopt logged to its Redis Stream (llmopt_redis stream=)?
 * Each entry holds the features x (and their names), the arm chosen, the
 * probability the policy gave it (propensity) and the reward learned.
 * For a target policy pi, n entries, w = pi(a|x) / p:
 *
 *   IPS    (1/n) sum w r
 *   SNIPS  sum w r / sum w
 *   DR     (1/n) sum [ sum_k pi(k|x) q(x,k) + w (r - q(x,a)) ]
 *
 * each with its 95 % confidence interval (1.96 standard errors: of the
 * mean of the terms for IPS and DR, the delta method's for SNIPS); q is a
 * ridge regression of the reward on x per arm, cross-fitted (an entry's q
 * is fitted on the entries of the other parity).  Targets: the logged
 * policy itself (its mean reward), each arm always, uniform random, the
 * greedy policy of q, and with --catalog a candidate policy of a catalog:
 * its algorithm, features and guardrails, through llmopt_decide(), from a
 * cold start, learning every logged answer in stream order after it is
 * scored (docs/REPLAY.md, "Offline evaluation").  Links the core and
 * hiredis.
 *
 *   offline-eval --redis host:port [--stream key] [--count n]
 *                [--min-propensity p] [--policy name]
 *                [--catalog file --policy name [--logged name]
 *                 [--samples n]]
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <hiredis/hiredis.h>

#include "llmopt_core.h"
#include "llmopt_bandit.h"
#include "llmopt_catalog.h"
#include "llmopt_decide.h"
#include "llmopt_features.h"
#include "llmopt_guard.h"
#include "llmopt_rng.h"


#define EVAL_Z         1.96             /* 95 % */
#define EVAL_NAMES     1024             /* bytes of a features field */


typedef struct {
    unsigned   arm;                     /* index in eval_arms */
    unsigned   tokens_in;
    double     p;
    double     r;
    double     x[LLMOPT_FEATURE_MAX_DIM];
} eval_entry_t;


/* sums of one target's terms */

typedef struct {
    double     n;
    double     ips, ips2;
    double     w, w2;
    double     dr, dr2;
    unsigned   matches;
} eval_sums_t;


/* the candidate of --catalog, and what its select callback saw */

typedef struct {
    llmopt_catalog_t        cat;
    const llmopt_policy_t  *pol;
    void                   *block;
    int                     map[LLMOPT_FEATURE_MAX_DIM];
    int                     arm_of[LLMOPT_MAX_ARMS];   /* logged -> its */
    llmopt_rng_t            rng;        /* the decisions' */
    llmopt_rng_t            prng;       /* the propensities' samples */
    unsigned                samples;
    double                  dist[LLMOPT_MAX_ARMS];     /* its arms' */
    unsigned                refused;
    double                  unlogged;   /* pi's mass on arms never logged */
} eval_candidate_t;


static eval_entry_t  *eval_entries;
static unsigned       eval_n, eval_cap, eval_skipped, eval_other;
static char           eval_arms[LLMOPT_MAX_ARMS][128];
static unsigned       eval_n_arms, eval_dim;
static char           eval_policy[128];
static char           eval_features[EVAL_NAMES];
static unsigned       eval_named;       /* the entries name their features */

static llmopt_bandit_conf_t  eval_qconf;
static void                 *eval_qblock[2];


static void
usage(void)
{
    fprintf(stderr, "usage: offline-eval --redis host:port [--stream key] "
            "[--count n] [--min-propensity p] [--policy name] "
            "[--catalog file --policy name [--logged name] "
            "[--samples n]]\n");
    exit(2);
}


static void *
eval_alloc(void *ctx, size_t size)
{
    return calloc(1, size);
}


/* The arm's index by name, added when new; LLMOPT_MAX_ARMS when full. */

static unsigned
eval_arm(const char *name)
{
    unsigned  a;

    for (a = 0; a < eval_n_arms; a++) {
        if (strcmp(eval_arms[a], name) == 0) {
            return a;
        }
    }

    if (eval_n_arms == LLMOPT_MAX_ARMS) {
        return LLMOPT_MAX_ARMS;
    }

    snprintf(eval_arms[eval_n_arms], sizeof(eval_arms[0]), "%s", name);

    return eval_n_arms++;
}


/* One entry's fields: [name, value, name, value, ...]. */

static void
take(redisReply *fields, const char *want_policy, double min_p)
{
    size_t         i;
    unsigned       d, have;
    char          *s, *end;
    double         p, r;
    eval_entry_t   e, *grown;
    const char    *pol, *arm_name, *names;

    d = 0;
    p = -1;
    r = -1;
    pol = NULL;
    arm_name = NULL;
    names = NULL;
    have = 0;

    memset(&e, 0, sizeof(eval_entry_t));

    for (i = 0; i + 1 < fields->elements; i += 2) {
        const char *k = fields->element[i]->str;
        char *v = fields->element[i + 1]->str;

        if (k == NULL || v == NULL) {
            continue;
        }

        if (strcmp(k, "policy") == 0) {
            pol = v;

        } else if (strcmp(k, "arm") == 0) {
            arm_name = v;
            have |= 1;

        } else if (strcmp(k, "propensity") == 0) {
            p = strtod(v, NULL);
            have |= 2;

        } else if (strcmp(k, "reward") == 0) {
            r = strtod(v, NULL);
            have |= 4;

        } else if (strcmp(k, "features") == 0) {
            names = v;

        } else if (strcmp(k, "tokens_in") == 0) {
            e.tokens_in = (unsigned) strtoul(v, NULL, 10);

        } else if (strcmp(k, "x") == 0) {
            s = v;
            while (*s && d < LLMOPT_FEATURE_MAX_DIM) {
                e.x[d++] = strtod(s, &end);
                if (end == s) {
                    break;
                }
                s = (*end == ',') ? end + 1 : end;
            }
            have |= 8;
        }
    }

    if (have != 15 || pol == NULL) {
        eval_skipped++;
        return;
    }

    if (eval_policy[0] == '\0') {
        snprintf(eval_policy, sizeof(eval_policy), "%s",
                 want_policy ? want_policy : pol);
    }

    if (strcmp(pol, eval_policy) != 0) {
        eval_other++;
        return;
    }

    /* the first entry fixes the features; one of others is skipped */

    if (eval_n == 0 && eval_dim == 0) {
        eval_dim = d;
        eval_named = names != NULL;
        snprintf(eval_features, sizeof(eval_features), "%s",
                 names ? names : "");
    }

    if (d != eval_dim || (names != NULL) != eval_named
        || (names && strcmp(names, eval_features) != 0)
        || !(p >= min_p) || p > 1 || !(r >= 0 && r <= 1))
    {
        eval_skipped++;
        return;
    }

    e.arm = eval_arm(arm_name);

    if (e.arm == LLMOPT_MAX_ARMS) {
        eval_skipped++;
        return;
    }

    e.p = p;
    e.r = r;

    if (eval_n == eval_cap) {
        eval_cap = eval_cap ? 2 * eval_cap : 1024;
        grown = realloc(eval_entries, eval_cap * sizeof(eval_entry_t));

        if (grown == NULL) {
            fprintf(stderr, "offline-eval: out of memory\n");
            exit(1);
        }

        eval_entries = grown;
    }

    eval_entries[eval_n++] = e;
}


/* Reads the stream in batches with XRANGE. */

static int
read_stream(redisContext *c, const char *key, const char *want_policy,
    unsigned count, double min_p)
{
    char         start[64];
    size_t       i;
    redisReply  *reply, *item;

    snprintf(start, sizeof(start), "-");

    for ( ;; ) {
        reply = redisCommand(c, "XRANGE %s %s + COUNT %u", key, start, count);

        if (reply == NULL) {
            fprintf(stderr, "offline-eval: XRANGE: %s\n", c->errstr);
            return -1;
        }

        if (reply->type == REDIS_REPLY_ERROR) {
            fprintf(stderr, "offline-eval: XRANGE: %s\n", reply->str);
            freeReplyObject(reply);
            return -1;
        }

        if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
            freeReplyObject(reply);
            return 0;
        }

        for (i = 0; i < reply->elements; i++) {
            item = reply->element[i];

            if (item->type == REDIS_REPLY_ARRAY && item->elements == 2
                && item->element[1]->type == REDIS_REPLY_ARRAY)
            {
                take(item->element[1], want_policy, min_p);
            }
        }

        item = reply->element[reply->elements - 1];
        snprintf(start, sizeof(start), "(%s",
                 item->type == REDIS_REPLY_ARRAY && item->element[0]->str
                 ? item->element[0]->str : "+");

        if (reply->elements < count) {
            freeReplyObject(reply);
            return 0;
        }

        freeReplyObject(reply);
    }
}


/*
 * The direct model q(x, k) = theta_k . x clamped to [0, 1], of fold f
 * (fitted on the entries of parity f): entry i is scored by fold
 * 1 - i % 2.
 */

static double
q(unsigned f, unsigned k, const double *x)
{
    unsigned             i;
    double               v;
    llmopt_bandit_arm_t  view;

    llmopt_bandit_arm(&eval_qconf, eval_qblock[f], k, &view);

    v = 0;

    for (i = 0; i < eval_dim; i++) {
        v += view.theta[i] * x[i];
    }

    return v < 0 ? 0 : v > 1 ? 1 : v;
}


static int
q_fit(void)
{
    unsigned  i, f;

    llmopt_bandit_conf_defaults(&eval_qconf);
    eval_qconf.algorithm = LLMOPT_ALG_LINUCB;
    eval_qconf.n_arms = eval_n_arms;
    eval_qconf.d = eval_dim;
    eval_qconf.alpha = 0;
    eval_qconf.lambda = 1;
    eval_qconf.prior_mean = 0;

    if (llmopt_bandit_conf_check(&eval_qconf, NULL) != LLMOPT_OK) {
        fprintf(stderr, "offline-eval: %u arms, d = %u: unusable\n",
                eval_n_arms, eval_dim);
        return -1;
    }

    for (f = 0; f < 2; f++) {
        eval_qblock[f] = calloc(1, llmopt_bandit_size(&eval_qconf));

        if (eval_qblock[f] == NULL) {
            return -1;
        }

        llmopt_bandit_init(&eval_qconf, eval_qblock[f]);
    }

    for (i = 0; i < eval_n; i++) {
        llmopt_bandit_update(&eval_qconf, eval_qblock[i % 2],
                             eval_entries[i].arm, eval_entries[i].x,
                             eval_entries[i].r);
    }

    return 0;
}


/* Adds entry i's terms for target distribution pi (over logged arms). */

static void
sums_add(eval_sums_t *s, unsigned i, const double *pi)
{
    double         w, dm, t;
    unsigned       k, f;
    eval_entry_t  *e;

    e = &eval_entries[i];
    f = 1 - i % 2;

    w = pi[e->arm] / e->p;

    dm = 0;
    for (k = 0; k < eval_n_arms; k++) {
        dm += pi[k] * q(f, k, e->x);
    }

    t = dm + w * (e->r - q(f, e->arm, e->x));

    s->n++;
    s->ips += w * e->r;
    s->ips2 += w * e->r * w * e->r;
    s->w += w;
    s->w2 += w * w;
    s->dr += t;
    s->dr2 += t * t;
    s->matches += pi[e->arm] > 0;
}


static double
se_of(double sum, double sum2, double n)
{
    double  m, v;

    if (n < 2) {
        return 0;
    }

    m = sum / n;
    v = (sum2 - n * m * m) / (n - 1);

    return v > 0 ? sqrt(v / n) : 0;
}


/*
 * SNIPS's standard error by the delta method, a second pass over the
 * entries with pi from target(): sqrt(sum (w (r - V))^2) / sum w.
 */

static void
print_sums(const char *name, const eval_sums_t *s, double snips_se)
{
    double  ips, snips, dr, se;

    ips = s->ips / s->n;
    snips = s->w > 0 ? s->ips / s->w : 0;
    dr = s->dr / s->n;

    se = se_of(s->ips, s->ips2, s->n);
    printf("%-28s n %6u  IPS %.4f [%.4f, %.4f]", name, s->matches, ips,
           ips - EVAL_Z * se, ips + EVAL_Z * se);
    printf("  SNIPS %.4f [%.4f, %.4f]", snips, snips - EVAL_Z * snips_se,
           snips + EVAL_Z * snips_se);
    se = se_of(s->dr, s->dr2, s->n);
    printf("  DR %.4f [%.4f, %.4f]  (effective n %.0f)\n", dr,
           dr - EVAL_Z * se, dr + EVAL_Z * se,
           s->w2 > 0 ? s->w * s->w / s->w2 : 0);
}


/*
 * A fixed target as a distribution over arms for entry i: target <
 * n_arms: always that arm; n_arms: uniform; n_arms + 1: greedy on q.
 */

static void
target_pi(unsigned target, unsigned i, double *pi)
{
    unsigned  k, best, f;

    f = 1 - i % 2;

    for (k = 0; k < eval_n_arms; k++) {
        pi[k] = 0;
    }

    if (target < eval_n_arms) {
        pi[target] = 1;
        return;
    }

    if (target == eval_n_arms) {
        for (k = 0; k < eval_n_arms; k++) {
            pi[k] = 1.0 / eval_n_arms;
        }
        return;
    }

    best = 0;

    for (k = 1; k < eval_n_arms; k++) {
        if (q(f, k, eval_entries[i].x) > q(f, best, eval_entries[i].x)) {
            best = k;
        }
    }

    pi[best] = 1;
}


static void
evaluate(unsigned target, const char *name)
{
    double        pi[LLMOPT_MAX_ARMS], snips, w, v;
    unsigned      i;
    eval_sums_t   s;

    memset(&s, 0, sizeof(eval_sums_t));

    for (i = 0; i < eval_n; i++) {
        target_pi(target, i, pi);
        sums_add(&s, i, pi);
    }

    snips = s.w > 0 ? s.ips / s.w : 0;
    v = 0;

    for (i = 0; i < eval_n; i++) {
        target_pi(target, i, pi);
        w = pi[eval_entries[i].arm] / eval_entries[i].p;
        v += (w * (eval_entries[i].r - snips)) * (w * (eval_entries[i].r
                                                       - snips));
    }

    print_sums(name, &s, s.w > 0 ? sqrt(v) / s.w : 0);
}


/*
 * The candidate's select callback for llmopt_decide(): the probability
 * of each allowed arm (llmopt_bandit_propensity(), exact or from samples
 * draws of the sampler), then the bandit's own choice.
 */

static int
candidate_select(void *data, const double *x, const unsigned char *allowed,
    llmopt_rng_t *rng, llmopt_choice_t *choice)
{
    eval_candidate_t *c = data;

    double                       p;
    unsigned                     a;
    const llmopt_bandit_conf_t  *bconf;

    bconf = &c->pol->bandit;

    for (a = 0; a < c->pol->n_arms; a++) {
        p = 0;

        if (allowed[a]) {
            p = llmopt_bandit_propensity(bconf, c->block, x, allowed, a,
                                         &c->prng, c->samples);
        }

        c->dist[a] = p > 0 ? p : 0;
    }

    return llmopt_bandit_select(bconf, c->block, x, allowed, rng, choice);
}


static int
candidate_make(eval_candidate_t *c, const char *catalog, const char *name,
    unsigned samples)
{
    unsigned               a, b, missing;
    llmopt_err_t           err;
    llmopt_alloc_t         alloc = { eval_alloc, NULL };
    llmopt_feature_spec_t  logged;

    memset(&err, 0, sizeof(llmopt_err_t));

    if (llmopt_catalog_load_file(&c->cat, catalog, &alloc, &err)
        != LLMOPT_OK)
    {
        fprintf(stderr, "offline-eval: %s:%u:%u: %s\n", catalog, err.line,
                err.column, err.msg);
        return -1;
    }

    c->pol = llmopt_catalog_policy(&c->cat, name, strlen(name));

    if (c->pol == NULL) {
        fprintf(stderr, "offline-eval: no policy \"%s\" in %s\n", name,
                catalog);
        return -1;
    }

    if (c->pol->sparse_on) {
        fprintf(stderr, "offline-eval: policy \"%s\" is algorithm sparse: "
                "it decides from the requests' text, which the stream does "
                "not hold\n", name);
        return -1;
    }

    /* its features from the logged ones, by name */

    if (eval_named) {
        if (llmopt_features_parse(&logged, eval_features,
                                  strlen(eval_features), &err)
            != LLMOPT_OK || logged.d != eval_dim)
        {
            fprintf(stderr, "offline-eval: the stream's features \"%s\": "
                    "%s\n", eval_features,
                    logged.d != eval_dim ? "not the size of x" : err.msg);
            return -1;
        }

    } else if (c->pol->features.d == eval_dim) {
        logged = c->pol->features;  /* an older stream: taken as the same */

    } else {
        fprintf(stderr, "offline-eval: the stream names no features and "
                "its x has %u, policy \"%s\" %u\n", eval_dim, name,
                c->pol->features.d);
        return -1;
    }

    missing = llmopt_features_map(&logged, &c->pol->features, c->map);

    if (missing) {
        for (a = 0; a < c->pol->features.d && c->map[a] >= 0; a++) {
            /* void */
        }

        fprintf(stderr, "offline-eval: policy \"%s\" needs features the "
                "stream lacks (%u dimensions, the first its #%u; logged: "
                "%s)\n", name, missing, a + 1, eval_features);
        return -1;
    }

    /* its arms to the logged ones, by name */

    for (b = 0; b < eval_n_arms; b++) {
        c->arm_of[b] = -1;

        for (a = 0; a < c->pol->n_arms; a++) {
            if (strlen(eval_arms[b]) == c->pol->arms[a].name.len
                && memcmp(eval_arms[b], c->pol->arms[a].name.data,
                          c->pol->arms[a].name.len) == 0)
            {
                c->arm_of[b] = (int) a;
            }
        }
    }

    c->block = calloc(1, llmopt_bandit_size(&c->pol->bandit));

    if (c->block == NULL) {
        fprintf(stderr, "offline-eval: out of memory\n");
        return -1;
    }

    llmopt_bandit_init(&c->pol->bandit, c->block);
    llmopt_rng_seed(&c->rng, c->pol->bandit.seed ? c->pol->bandit.seed : 1);
    llmopt_rng_seed(&c->prng, 0x6f66666c696e65ULL);
    c->samples = samples;

    return 0;
}


/*
 * The candidate over the entries in stream order: entry i's distribution
 * through llmopt_decide(), scored, then the logged answer learned.
 */

static void
candidate_run(eval_candidate_t *c, const char *label)
{
    int                   rc;
    double                pi[LLMOPT_MAX_ARMS], xc[LLMOPT_FEATURE_MAX_DIM];
    double                *piv, snips, w, v;
    unsigned              i, a, b, n_arms;
    uint64_t              until[LLMOPT_MAX_ARMS];
    unsigned char         breach[LLMOPT_MAX_ARMS];
    eval_sums_t           s;
    eval_entry_t         *e;
    llmopt_guard_need_t   need;
    llmopt_decide_in_t    in;
    llmopt_decide_out_t   out;

    n_arms = c->pol->n_arms;

    memset(until, 0, sizeof(until));
    memset(breach, 0, sizeof(breach));
    memset(&in, 0, sizeof(llmopt_decide_in_t));
    memset(&s, 0, sizeof(eval_sums_t));

    in.catalog = &c->cat;
    in.policy = c->pol;
    in.need = &need;
    in.x = xc;
    in.fallback = c->pol->fallback >= 0 ? (unsigned) c->pol->fallback : 0;
    in.slo_breach = breach;
    in.breaker_until = until;
    in.canary_share = -1;
    in.rng = &c->rng;
    in.select = candidate_select;
    in.data = c;

    /* the pi of every entry, kept for SNIPS's second pass */

    piv = malloc((size_t) eval_n * eval_n_arms * sizeof(double));

    if (piv == NULL) {
        fprintf(stderr, "offline-eval: out of memory\n");
        exit(1);
    }

    for (i = 0; i < eval_n; i++) {
        e = &eval_entries[i];

        for (a = 0; a < c->pol->features.d; a++) {
            xc[a] = e->x[c->map[a]];
        }

        need.input_tokens = e->tokens_in;
        need.output_tokens = 0;
        in.now_ms = 0;

        memset(c->dist, 0, sizeof(c->dist));
        rc = llmopt_decide(&in, &out);

        if (rc != LLMOPT_DECIDE_OK) {
            c->refused++;
            memset(c->dist, 0, sizeof(c->dist));

        } else if (out.reason != LLMOPT_DECIDE_BANDIT || out.shadow) {
            memset(c->dist, 0, sizeof(c->dist));
            c->dist[out.arm] = 1;
        }

        for (a = 0; a < n_arms; a++) {
            for (b = 0; b < eval_n_arms && c->arm_of[b] != (int) a; b++) {
                /* void */
            }

            if (b == eval_n_arms) {
                c->unlogged += c->dist[a];
            }
        }

        for (b = 0; b < eval_n_arms; b++) {
            pi[b] = c->arm_of[b] >= 0 ? c->dist[c->arm_of[b]] : 0;
        }

        memcpy(piv + (size_t) i * eval_n_arms, pi,
               eval_n_arms * sizeof(double));
        sums_add(&s, i, pi);

        if (c->arm_of[e->arm] >= 0) {
            llmopt_bandit_update(&c->pol->bandit, c->block,
                                 (unsigned) c->arm_of[e->arm], xc, e->r);
        }
    }

    snips = s.w > 0 ? s.ips / s.w : 0;
    v = 0;

    for (i = 0; i < eval_n; i++) {
        e = &eval_entries[i];
        w = piv[(size_t) i * eval_n_arms + e->arm] / e->p;
        v += (w * (e->r - snips)) * (w * (e->r - snips));
    }

    free(piv);

    print_sums(label, &s, s.w > 0 ? sqrt(v) / s.w : 0);
    printf("  (%s, %s; refused %u of %u; its probability on arms never "
           "logged %.4f a decision)\n",
           llmopt_algorithm_name(c->pol->bandit.algorithm),
           c->samples && (c->pol->bandit.algorithm == LLMOPT_ALG_LIN_TS
                          || c->pol->bandit.algorithm == LLMOPT_ALG_THOMPSON)
           ? "propensities sampled" : "propensities exact",
           c->refused, eval_n, c->unlogged / eval_n);
}


int
main(int argc, char **argv)
{
    int                      i, port;
    char                    *addr, *key, *want, *colon, *catalog, *logged;
    char                     name[320];
    double                   min_p, mean, mean2, se;
    unsigned                 count, k, samples;
    redisContext            *c;
    struct timeval           tv = { 2, 0 };
    static eval_candidate_t  cand;

    addr = NULL;
    key = "llmopt:events";
    want = NULL;
    catalog = NULL;
    logged = NULL;
    count = 1000;
    samples = 200;
    min_p = 1e-3;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--redis") == 0 && i + 1 < argc) {
            addr = argv[++i];
        } else if (strcmp(argv[i], "--stream") == 0 && i + 1 < argc) {
            key = argv[++i];
        } else if (strcmp(argv[i], "--policy") == 0 && i + 1 < argc) {
            want = argv[++i];
        } else if (strcmp(argv[i], "--catalog") == 0 && i + 1 < argc) {
            catalog = argv[++i];
        } else if (strcmp(argv[i], "--logged") == 0 && i + 1 < argc) {
            logged = argv[++i];
        } else if (strcmp(argv[i], "--samples") == 0 && i + 1 < argc) {
            samples = (unsigned) strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            count = (unsigned) strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--min-propensity") == 0 && i + 1 < argc) {
            min_p = strtod(argv[++i], NULL);
        } else {
            usage();
        }
    }

    if (addr == NULL || count == 0 || (catalog != NULL && want == NULL)
        || (logged != NULL && catalog == NULL) || samples == 0)
    {
        usage();
    }

    if (strncmp(addr, "unix:", 5) == 0) {
        c = redisConnectUnixWithTimeout(addr + 5, tv);

    } else {
        colon = strrchr(addr, ':');
        port = colon ? atoi(colon + 1) : 6379;
        if (colon) {
            *colon = '\0';
        }
        c = redisConnectWithTimeout(addr, port, tv);
    }

    if (c == NULL || c->err) {
        fprintf(stderr, "offline-eval: cannot connect: %s\n",
                c ? c->errstr : "out of memory");
        return 1;
    }

    if (read_stream(c, key, logged ? logged : want, count, min_p) != 0) {
        return 1;
    }

    redisFree(c);

    if (eval_n == 0 || eval_n_arms == 0 || eval_dim == 0) {
        fprintf(stderr, "offline-eval: no usable entry in \"%s\" (%u "
                "skipped)\n", key, eval_skipped);
        return 1;
    }

    if (catalog != NULL && candidate_make(&cand, catalog, want, samples) != 0)
    {
        return 1;
    }

    if (q_fit() != 0) {
        return 1;
    }

    mean = mean2 = 0;

    for (k = 0; k < eval_n; k++) {
        mean += eval_entries[k].r;
        mean2 += eval_entries[k].r * eval_entries[k].r;
    }

    se = se_of(mean, mean2, eval_n);
    mean /= eval_n;

    printf("entries %u (policy %s, d = %u, features %s, arms", eval_n,
           eval_policy, eval_dim, eval_named ? eval_features : "unnamed");
    for (k = 0; k < eval_n_arms; k++) {
        printf(" %s", eval_arms[k]);
    }
    printf("; %u skipped, %u of other policies)\n", eval_skipped,
           eval_other);

    printf("logged policy                mean reward %.4f [%.4f, %.4f]\n",
           mean, mean - EVAL_Z * se, mean + EVAL_Z * se);

    for (k = 0; k < eval_n_arms; k++) {
        snprintf(name, sizeof(name), "always %.200s", eval_arms[k]);
        evaluate(k, name);
    }

    evaluate(eval_n_arms, "uniform random");
    evaluate(eval_n_arms + 1, "greedy on the direct model");

    if (catalog != NULL) {
        snprintf(name, sizeof(name), "candidate %.200s", want);
        candidate_run(&cand, name);
    }

    return 0;
}
