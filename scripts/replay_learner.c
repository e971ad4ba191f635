
/*
 * Copyright (C) llmopt authors
 *
 * replay's learner of a policy, what nginx's zone and trainer hold for
 * it: the bandit's block and, for algorithm sparse, the sparse table.
 * The choice is the select callback of llmopt_decide() as nginx's
 * (ngx_http_llmopt_decide.c, ngx_http_llmopt_sparse.c): sparse policies
 * choose by llmopt_sparse_select() from the request's text features and
 * an arm served by another rule gets its carry all the same; the update
 * is the trainer's (llmopt_trainer.c): the bandit's, then the table's
 * from the event's carry.  Links src/ only.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llmopt_core.h"
#include "llmopt_request.h"
#include "llmopt_bandit.h"
#include "llmopt_sparse.h"
#include "llmopt_decide.h"
#include "replay.h"


int
replay_learner_init(replay_learner_t *l, const llmopt_policy_t *pol,
    const llmopt_bandit_conf_t *bconf)
{
    memset(l, 0, sizeof(replay_learner_t));

    l->pol = pol;
    l->bconf = bconf;
    l->block = calloc(1, llmopt_bandit_size(bconf));

    if (l->block == NULL) {
        fprintf(stderr, "replay: out of memory\n");
        return -1;
    }

    llmopt_bandit_init(bconf, l->block);

    if (pol->sparse_on) {
        l->table = malloc(llmopt_sparse_size(&pol->sparse));

        if (l->table == NULL) {
            fprintf(stderr, "replay: out of memory\n");
            free(l->block);
            return -1;
        }

        llmopt_sparse_init(&pol->sparse, l->table);
    }

    return 0;
}


void
replay_learner_free(replay_learner_t *l)
{
    free(l->block);
    free(l->table);
}


int
replay_learner_select(void *data, const double *x,
    const unsigned char *allowed, llmopt_rng_t *rng, llmopt_choice_t *choice)
{
    replay_learner_t *l = data;

    const llmopt_request_t  *req;

    if (!l->pol->sparse_on) {
        return llmopt_bandit_select(l->bconf, l->block, x, allowed, rng,
                                    choice);
    }

    req = l->req;

    llmopt_sparse_features(&l->pol->sparse, req->body + req->prompt.start,
                           req->prompt.end - req->prompt.start,
                           req->body + req->system.start,
                           req->system.end - req->system.start, x, &l->f);

    return llmopt_sparse_select(&l->pol->sparse, l->table, &l->f, x, allowed,
                                rng, choice, &l->carry);
}


void
replay_learner_decided(replay_learner_t *l, const llmopt_decide_out_t *out,
    const double *x, llmopt_rng_t *rng)
{
    double                   score[LLMOPT_MAX_ARMS];
    const llmopt_request_t  *req;

    if (!l->pol->sparse_on
        || (out->reason == LLMOPT_DECIDE_BANDIT && !out->shadow))
    {
        return;
    }

    /* served by another rule: the table learns of the arm served */

    memset(&l->carry, 0, sizeof(llmopt_sparse_carry_t));

    if (out->arm >= l->pol->n_arms) {
        return;
    }

    req = l->req;

    llmopt_sparse_features(&l->pol->sparse, req->body + req->prompt.start,
                           req->prompt.end - req->prompt.start,
                           req->body + req->system.start,
                           req->system.end - req->system.start, x, &l->f);
    llmopt_sparse_scores(&l->pol->sparse, l->table, &l->f, x, score);
    llmopt_sparse_carry(&l->f, score[out->arm], rng, &l->carry);
}


void
replay_learner_update(replay_learner_t *l, unsigned arm, const double *x,
    double reward)
{
    float     xf[LLMOPT_FEATURE_MAX_DIM];
    unsigned  i;

    llmopt_bandit_update(l->bconf, l->block, arm, x, reward);

    if (l->table == NULL) {
        return;
    }

    /* the event carries x as floats, as the trainer reads it */

    for (i = 0; i < l->bconf->d; i++) {
        xf[i] = (float) x[i];
    }

    llmopt_sparse_update(&l->pol->sparse, l->table, NULL, arm, &l->carry,
                         xf, reward);
}
