/*
 * Copyright (C) llmopt authors
 *
 * replay --catalog: the arms a catalog's policy gives a stream of
 * requests, decided as nginx decides them (llmopt_decide), so that a test
 * can compare the two (t/175-replay-decide.t).  Nothing is learned and
 * every circuit stays closed: the policy's guardrails that need no
 * answers (context windows, max_cost) apply.  Links src/ only.
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
#include "llmopt_rng.h"
#include "replay.h"


#define REPLAY_CATALOG_TOKS  4096
#define REPLAY_CATALOG_LINE  (1024 * 1024)


typedef struct {
    const llmopt_bandit_conf_t  *conf;
    const void                  *block;
} replay_catalog_bandit_t;


static int replay_catalog_select(void *data, const double *x,
    const unsigned char *allowed, llmopt_rng_t *rng,
    llmopt_choice_t *choice);
static void *replay_catalog_alloc(void *ctx, size_t size);


static llmopt_json_tok_t  replay_catalog_toks[REPLAY_CATALOG_TOKS];


int
replay_catalog(const char *catalog, const char *policy, const char *requests)
{
    FILE                     *f;
    char                     *line;
    void                     *block;
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
    replay_catalog_bandit_t   bandit;
    double                    x[LLMOPT_FEATURE_MAX_DIM];
    unsigned char             breach[LLMOPT_MAX_ARMS];
    uint64_t                  until[LLMOPT_MAX_ARMS];

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

    block = calloc(1, llmopt_bandit_size(&pol->bandit));
    line = malloc(REPLAY_CATALOG_LINE);

    if (block == NULL || line == NULL) {
        fprintf(stderr, "replay: out of memory\n");
        return 1;
    }

    llmopt_bandit_init(&pol->bandit, block);
    llmopt_rng_seed(&rng, pol->bandit.seed);

    if (pol->bandit.seed == 0) {
        fprintf(stderr, "replay: policy \"%s\" has no seed: nginx would "
                "draw one of its own\n", policy);
    }

    memset(breach, 0, sizeof(breach));
    memset(until, 0, sizeof(until));
    memset(&in, 0, sizeof(llmopt_decide_in_t));

    bandit.conf = &pol->bandit;
    bandit.block = block;

    in.catalog = &cat;
    in.policy = pol;
    in.need = &need;
    in.x = x;
    in.fallback = pol->fallback >= 0 ? (unsigned) pol->fallback : 0;
    in.slo_breach = breach;
    in.breaker_until = until;
    in.canary_share = -1;
    in.rng = &rng;
    in.select = replay_catalog_select;
    in.data = &bandit;

    f = fopen(requests, "r");
    if (f == NULL) {
        perror(requests);
        free(line);
        free(block);
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
            free(block);
            return 1;
        }

        llmopt_features_build(&pol->features, &req, NULL, x);
        llmopt_guard_need(&req, &need);

        switch (llmopt_decide(&in, &out)) {

        case LLMOPT_DECIDE_OK:
            printf("%u %.*s %.6f\n", n + 1, (int) pol->arms[out.arm].name.len,
                   pol->arms[out.arm].name.data, out.propensity);
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
    free(block);

    return 0;
}


static int
replay_catalog_select(void *data, const double *x,
    const unsigned char *allowed, llmopt_rng_t *rng, llmopt_choice_t *choice)
{
    replay_catalog_bandit_t *b = data;

    return llmopt_bandit_select(b->conf, b->block, x, allowed, rng, choice);
}


static void *
replay_catalog_alloc(void *ctx, size_t size)
{
    return calloc(1, size);
}
