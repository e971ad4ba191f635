
/*
 * Copyright (C) llmopt authors
 *
 * offline-eval: what would another policy have earned, judged from the
 * decisions llmopt logged to its Redis Stream (llmopt_redis stream=)?
 * Each entry holds the features x, the arm chosen, the probability the
 * policy gave it (propensity) and the reward learned.  For a target
 * policy pi this prints:
 *
 *   IPS    (1/n) sum r pi(a|x) / p
 *   SNIPS  the same, normalised by (1/n) sum pi(a|x) / p
 *   DR     (1/n) sum [ sum_k pi(k|x) q(x,k) + pi(a|x) / p (r - q(x,a)) ]
 *
 * with q a ridge regression of the reward on x per arm, fitted on all
 * entries (the core's LinUCB statistics, alpha 0).  Targets: the logged
 * policy itself (its mean reward), each arm always, uniform random, and
 * the greedy policy of q.  Links the core and hiredis.
 *
 *   offline-eval --redis host:port [--stream key] [--policy name]
 *                [--count n] [--min-propensity p]
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

#include <hiredis/hiredis.h>

#include "llmopt_core.h"
#include "llmopt_bandit.h"
#include "llmopt_features.h"


#define MAX_ENTRIES  2000000


typedef struct {
    unsigned   arm;
    unsigned   d;
    double     p;
    double     r;
    double     x[LLMOPT_FEATURE_MAX_DIM];
} entry_t;


static entry_t   *entries;
static unsigned   n_entries, n_skipped, n_other;
static char       arm_names[LLMOPT_MAX_ARMS][128];
static unsigned   n_arms, dim;
static char       policy[128];


static void
usage(void)
{
    fprintf(stderr, "usage: offline-eval --redis host:port [--stream key] "
            "[--policy name] [--count n] [--min-propensity p]\n");
    exit(2);
}


/* One entry's fields: [name, value, name, value, ...]. */

static void
take(redisReply *fields, const char *want_policy, double min_p)
{
    size_t     i;
    unsigned   arm, d, have;
    char      *s, *end;
    double     p, r;
    entry_t   *e;
    const char *pol, *arm_name;

    arm = LLMOPT_MAX_ARMS;
    d = 0;
    p = -1;
    r = -1;
    pol = NULL;
    arm_name = NULL;
    have = 0;

    if (n_entries == MAX_ENTRIES) {
        n_skipped++;
        return;
    }

    e = &entries[n_entries];

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

        } else if (strcmp(k, "arm_index") == 0) {
            arm = (unsigned) strtoul(v, NULL, 10);
            have |= 1;

        } else if (strcmp(k, "propensity") == 0) {
            p = strtod(v, NULL);
            have |= 2;

        } else if (strcmp(k, "reward") == 0) {
            r = strtod(v, NULL);
            have |= 4;

        } else if (strcmp(k, "x") == 0) {
            s = v;
            while (*s && d < LLMOPT_FEATURE_MAX_DIM) {
                e->x[d++] = strtod(s, &end);
                if (end == s) {
                    break;
                }
                s = (*end == ',') ? end + 1 : end;
            }
            have |= 8;
        }
    }

    if (have != 15 || pol == NULL || arm >= LLMOPT_MAX_ARMS) {
        n_skipped++;
        return;
    }

    if (policy[0] == '\0') {
        snprintf(policy, sizeof(policy), "%s", want_policy ? want_policy
                                                           : pol);
    }

    if (strcmp(pol, policy) != 0) {
        n_other++;
        return;
    }

    if (dim == 0) {
        dim = d;
    }

    if (d != dim || !(p >= min_p) || p > 1 || !(r >= 0 && r <= 1)) {
        n_skipped++;
        return;
    }

    if (arm >= n_arms) {
        n_arms = arm + 1;
    }

    if (arm_name && arm_names[arm][0] == '\0') {
        snprintf(arm_names[arm], sizeof(arm_names[arm]), "%s", arm_name);
    }

    e->arm = arm;
    e->d = d;
    e->p = p;
    e->r = r;
    n_entries++;
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


/* The direct model q(x, k) = theta_k . x */

static llmopt_bandit_conf_t  qconf;
static void                 *qblock;


static double
q(unsigned k, const double *x)
{
    unsigned             i;
    double               v;
    llmopt_bandit_arm_t  view;

    llmopt_bandit_arm(&qconf, qblock, k, &view);

    v = 0;

    for (i = 0; i < dim; i++) {
        v += view.theta[i] * x[i];
    }

    return v < 0 ? 0 : v > 1 ? 1 : v;
}


/*
 * A target policy as a distribution over arms for x: pi[k].  target < n_arms:
 * always that arm; n_arms: uniform; n_arms + 1: greedy on q.
 */

static void
target_pi(unsigned target, const double *x, double *pi)
{
    unsigned  k, best;

    for (k = 0; k < n_arms; k++) {
        pi[k] = 0;
    }

    if (target < n_arms) {
        pi[target] = 1;
        return;
    }

    if (target == n_arms) {
        for (k = 0; k < n_arms; k++) {
            pi[k] = 1.0 / n_arms;
        }
        return;
    }

    best = 0;

    for (k = 1; k < n_arms; k++) {
        if (q(k, x) > q(best, x)) {
            best = k;
        }
    }

    pi[best] = 1;
}


static void
evaluate(unsigned target, const char *name)
{
    double     pi[LLMOPT_MAX_ARMS], w, ips, norm, dr, dm, w2;
    unsigned   i, k, matches;
    entry_t   *e;

    ips = norm = dr = w2 = 0;
    matches = 0;

    for (i = 0; i < n_entries; i++) {
        e = &entries[i];
        target_pi(target, e->x, pi);

        w = pi[e->arm] / e->p;
        ips += w * e->r;
        norm += w;
        w2 += w * w;
        matches += pi[e->arm] > 0;

        dm = 0;
        for (k = 0; k < n_arms; k++) {
            dm += pi[k] * q(k, e->x);
        }

        dr += dm + w * (e->r - q(e->arm, e->x));
    }

    printf("%-28s n %6u  IPS %.4f  SNIPS %.4f  DR %.4f  (effective n %.0f)\n",
           name, matches, ips / n_entries, norm > 0 ? ips / norm : 0,
           dr / n_entries, w2 > 0 ? norm * norm / w2 : 0);
}


int
main(int argc, char **argv)
{
    int             i, port;
    char           *addr, *key, *want, *colon, name[320];
    double          min_p, mean;
    unsigned        count, k;
    redisContext   *c;
    struct timeval  tv = { 2, 0 };

    addr = NULL;
    key = "llmopt:events";
    want = NULL;
    count = 1000;
    min_p = 1e-3;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--redis") == 0 && i + 1 < argc) {
            addr = argv[++i];
        } else if (strcmp(argv[i], "--stream") == 0 && i + 1 < argc) {
            key = argv[++i];
        } else if (strcmp(argv[i], "--policy") == 0 && i + 1 < argc) {
            want = argv[++i];
        } else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc) {
            count = (unsigned) strtoul(argv[++i], NULL, 10);
        } else if (strcmp(argv[i], "--min-propensity") == 0 && i + 1 < argc) {
            min_p = strtod(argv[++i], NULL);
        } else {
            usage();
        }
    }

    if (addr == NULL || count == 0) {
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

    entries = malloc(MAX_ENTRIES * sizeof(entry_t));
    if (entries == NULL) {
        return 1;
    }

    if (read_stream(c, key, want, count, min_p) != 0) {
        return 1;
    }

    redisFree(c);

    if (n_entries == 0 || n_arms == 0 || dim == 0) {
        fprintf(stderr, "offline-eval: no usable entry in \"%s\" (%u "
                "skipped)\n", key, n_skipped);
        return 1;
    }

    /* the direct model: ridge per arm, lambda 1, no prior mean */

    llmopt_bandit_conf_defaults(&qconf);
    qconf.algorithm = LLMOPT_ALG_LINUCB;
    qconf.n_arms = n_arms;
    qconf.d = dim;
    qconf.alpha = 0;
    qconf.lambda = 1;
    qconf.prior_mean = 0;

    if (llmopt_bandit_conf_check(&qconf, NULL) != LLMOPT_OK) {
        fprintf(stderr, "offline-eval: %u arms, d = %u: unusable\n", n_arms,
                dim);
        return 1;
    }

    qblock = calloc(1, llmopt_bandit_size(&qconf));
    if (qblock == NULL) {
        return 1;
    }

    llmopt_bandit_init(&qconf, qblock);

    mean = 0;

    for (i = 0; i < (int) n_entries; i++) {
        llmopt_bandit_update(&qconf, qblock, entries[i].arm, entries[i].x,
                             entries[i].r);
        mean += entries[i].r;
    }

    llmopt_bandit_rebuild(&qconf, qblock);

    printf("entries %u (policy %s, d = %u, arms", n_entries, policy, dim);
    for (k = 0; k < n_arms; k++) {
        printf(" %s", arm_names[k][0] ? arm_names[k] : "?");
    }
    printf("; %u skipped, %u of other policies)\n", n_skipped, n_other);

    printf("logged policy                mean reward %.4f\n",
           mean / n_entries);

    for (k = 0; k < n_arms; k++) {
        snprintf(name, sizeof(name), "always %.200s",
                 arm_names[k][0] ? arm_names[k] : "?");
        evaluate(k, name);
    }

    evaluate(n_arms, "uniform random");
    evaluate(n_arms + 1, "greedy on the direct model");

    return 0;
}
