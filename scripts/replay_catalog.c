/*
 * Copyright (C) llmopt authors
 *
 * replay --catalog: the arms a catalog's policy gives a stream of
 * requests, decided as nginx decides them (llmopt_decide), so that a test
 * can compare the two (t/176-replay-decide.t, t/177-replay-guards.t).
 * Nothing is learned.  The guardrails that need no answers (context
 * windows, max_cost) apply; given how each arm answers (--outcomes), the
 * circuit breakers (failures in a row; the error-rate window is nginx's
 * alone) and the latency SLO learn from each served answer before the
 * next request is decided, as they do in nginx when requests come one at
 * a time and the trainer keeps up.  Links src/ only.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmopt_core.h"
#include "llmopt_catalog.h"
#include "llmopt_request.h"
#include "llmopt_features.h"
#include "llmopt_bandit.h"
#include "llmopt_decide.h"
#include "llmopt_breaker.h"
#include "llmopt_slo.h"
#include "llmopt_rng.h"
#include "replay.h"


#define REPLAY_CATALOG_TOKS  4096
#define REPLAY_CATALOG_LINE  (1024 * 1024)
#define REPLAY_CATALOG_T0    1000000000000ULL   /* ms, the first request */
#define REPLAY_CATALOG_STEP  1000               /* ms between requests */


/* How each arm answers, and what its breaker and SLO have seen. */

typedef struct {
    unsigned                     status;
    double                       latency_ms;
    uint64_t                     failures;      /* in a row */
    llmopt_slo_t                 slo;
} replay_catalog_arm_t;


static void *replay_catalog_alloc(void *ctx, size_t size);
static int replay_catalog_outcomes(const char *file,
    const llmopt_policy_t *pol, replay_catalog_arm_t *arms);
static void replay_catalog_answer(const llmopt_policy_t *pol,
    replay_catalog_arm_t *ra, unsigned a, uint64_t now,
    unsigned char *breach, uint64_t *until);


static llmopt_json_tok_t  replay_catalog_toks[REPLAY_CATALOG_TOKS];


int
replay_catalog(const char *catalog, const char *policy, const char *requests,
    const char *outcomes)
{
    FILE                     *f;
    char                     *line;
    size_t                    len;
    unsigned                  n;
    llmopt_err_t              err;
    llmopt_rng_t              rng;
    llmopt_alloc_t            alloc = { replay_catalog_alloc, NULL };
    llmopt_catalog_t          cat;
    llmopt_request_t          req;
    llmopt_guard_need_t       need;
    llmopt_decide_in_t        in;
    llmopt_decide_out_t       out;
    const llmopt_policy_t    *pol;
    static replay_learner_t   learner;
    double                    x[LLMOPT_FEATURE_MAX_DIM];
    unsigned char             breach[LLMOPT_MAX_ARMS];
    uint64_t                  until[LLMOPT_MAX_ARMS];
    replay_catalog_arm_t      arms[LLMOPT_MAX_ARMS];

    memset(&err, 0, sizeof(llmopt_err_t));

    if (llmopt_catalog_load_file(&cat, catalog, &alloc, &err) != LLMOPT_OK) {
        fprintf(stderr, "replay: %s:%u:%u: %s\n", catalog, err.line,
                err.column, err.msg);
        return 1;
    }

    pol = llmopt_catalog_policy(&cat, policy, strlen(policy));
    if (pol == NULL) {
        fprintf(stderr, "replay: no policy \"%s\" in %s\n", policy, catalog);
        return 1;
    }

    /* the policy's block from a cold start, its rng seeded as nginx does */

    line = malloc(REPLAY_CATALOG_LINE);

    if (line == NULL || replay_learner_init(&learner, pol, &pol->bandit) != 0)
    {
        fprintf(stderr, "replay: out of memory\n");
        return 1;
    }

    llmopt_rng_seed(&rng, pol->bandit.seed);

    if (pol->bandit.seed == 0) {
        fprintf(stderr, "replay: policy \"%s\" has no seed: nginx would "
                "draw one of its own\n", policy);
    }

    memset(breach, 0, sizeof(breach));
    memset(until, 0, sizeof(until));

    if (replay_catalog_outcomes(outcomes, pol, arms) != 0) {
        free(line);
        replay_learner_free(&learner);
        return 1;
    }

    if (outcomes != NULL && pol->breaker_error_rate > 0) {
        fprintf(stderr, "replay: policy \"%s\": the breaker's error_rate "
                "is not replayed, only failures in a row\n", policy);
    }
    memset(&in, 0, sizeof(llmopt_decide_in_t));

    in.catalog = &cat;
    in.policy = pol;
    in.need = &need;
    in.x = x;
    in.fallback = pol->fallback >= 0 ? (unsigned) pol->fallback : 0;
    in.slo_breach = breach;
    in.breaker_until = until;
    in.canary_share = -1;
    in.rng = &rng;
    in.select = replay_learner_select;
    in.data = &learner;

    f = fopen(requests, "r");
    if (f == NULL) {
        perror(requests);
        free(line);
        replay_learner_free(&learner);
        return 1;
    }

    for (n = 0; fgets(line, REPLAY_CATALOG_LINE, f) != NULL; n++) {
        len = strlen(line);

        while (len && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
            len--;
        }

        if (llmopt_request_parse(&req, LLMOPT_DIALECT_OPENAI,
                                 (unsigned char *) line, len,
                                 replay_catalog_toks, REPLAY_CATALOG_TOKS,
                                 64, &err)
            != LLMOPT_OK)
        {
            fprintf(stderr, "replay: %s: request %u: %s\n", requests, n + 1,
                    err.msg);
            fclose(f);
            free(line);
            replay_learner_free(&learner);
            return 1;
        }

        llmopt_features_build(&pol->features, &req, NULL, x);
        llmopt_guard_need(&req, &need);
        learner.req = &req;

        in.now_ms = REPLAY_CATALOG_T0 + (uint64_t) n * REPLAY_CATALOG_STEP;

        switch (llmopt_decide(&in, &out)) {

        case LLMOPT_DECIDE_OK:
            replay_learner_decided(&learner, &out, x, &rng);
            printf("%u %.*s %.6f\n", n + 1, (int) pol->arms[out.arm].name.len,
                   pol->arms[out.arm].name.data, out.propensity);

            if (outcomes != NULL) {
                replay_catalog_answer(pol, arms, out.arm, in.now_ms, breach,
                                      until);
            }

            break;

        case LLMOPT_DECIDE_UNFIT:
            printf("%u - unfit\n", n + 1);
            break;

        default:
            printf("%u - none\n", n + 1);
            break;
        }
    }

    fclose(f);
    free(line);
    replay_learner_free(&learner);

    return 0;
}


/*
 * Reads "<arm> <status> <latency ms>" lines (# comments, blank lines)
 * into arms; an arm not named answers 200 at once.  0, or -1 with a
 * message naming the line.
 */

static int
replay_catalog_outcomes(const char *file, const llmopt_policy_t *pol,
    replay_catalog_arm_t *arms)
{
    FILE      *f;
    char       buf[512], name[256];
    double     latency;
    unsigned   a, status, n;

    for (a = 0; a < LLMOPT_MAX_ARMS; a++) {
        arms[a].status = 200;
        arms[a].latency_ms = 0;
        arms[a].failures = 0;
        llmopt_slo_init(&arms[a].slo);
    }

    if (file == NULL) {
        return 0;
    }

    f = fopen(file, "r");
    if (f == NULL) {
        perror(file);
        return -1;
    }

    for (n = 1; fgets(buf, sizeof(buf), f) != NULL; n++) {
        if (buf[0] == '#' || buf[strspn(buf, " \t\r\n")] == '\0') {
            continue;
        }

        if (sscanf(buf, "%255s %u %lf", name, &status, &latency) != 3
            || status > 999 || latency < 0)
        {
            fprintf(stderr, "replay: %s:%u: not \"<arm> <status> "
                    "<latency ms>\"\n", file, n);
            fclose(f);
            return -1;
        }

        for (a = 0; a < pol->n_arms; a++) {
            if (strlen(name) == pol->arms[a].name.len
                && memcmp(name, pol->arms[a].name.data, strlen(name)) == 0)
            {
                break;
            }
        }

        if (a == pol->n_arms) {
            fprintf(stderr, "replay: %s:%u: the policy has no arm \"%s\"\n",
                    file, n, name);
            fclose(f);
            return -1;
        }

        arms[a].status = status;
        arms[a].latency_ms = latency;
    }

    fclose(f);

    return 0;
}


/*
 * Arm a served at now and answered as arms[a] says: its breaker counts
 * the answer (a failure: 429, 5xx, none) and its SLO the latency, and
 * the verdicts reach what the next decision reads (until, breach), as
 * nginx's worker and trainer publish them.
 */

static void
replay_catalog_answer(const llmopt_policy_t *pol, replay_catalog_arm_t *arms,
    unsigned a, uint64_t now, unsigned char *breach, uint64_t *until)
{
    int                     next;
    double                  p95;
    uint64_t                end;
    unsigned                failed, why, verdict;
    llmopt_breaker_seen_t   seen;
    replay_catalog_arm_t   *ra;

    ra = &arms[a];
    failed = ra->status == 429 || ra->status >= 500 || ra->status == 0;

    if (pol->breaker_failures || pol->breaker_error_rate > 0) {
        ra->failures = failed ? ra->failures + 1 : 0;

        seen.open_until_ms = until[a];
        seen.failures = ra->failures;
        seen.window_n = 0;
        seen.window_f = 0;

        end = 0;
        why = 0;

        next = llmopt_breaker_next(pol, &seen, failed, 0, now, &end, &why);

        if (next == LLMOPT_BREAKER_CLOSE) {
            until[a] = 0;

        } else if (next == LLMOPT_BREAKER_OPEN) {
            until[a] = end;
            ra->failures = 0;
        }
    }

    if (pol->latency_slo_ms) {
        llmopt_slo_add(&ra->slo, (float) ra->latency_ms);

        if (llmopt_slo_verdict(&ra->slo, pol->latency_slo_ms, &p95, &verdict)
            == LLMOPT_OK)
        {
            breach[a] = (unsigned char) verdict;
        }
    }
}


static void *
replay_catalog_alloc(void *ctx, size_t size)
{
    return calloc(1, size);
}
