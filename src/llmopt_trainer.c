
/*
 * Copyright (C) llmopt authors
 */


#include <string.h>

#include "llmopt_trainer.h"
#include "llmopt_bandit.h"
#include "llmopt_sparse.h"


void
llmopt_trainer_init(llmopt_trainer_t *t, llmopt_ring_t *ring,
    uint64_t catalog, llmopt_trainer_policy_t *policies, unsigned n)
{
    unsigned  i;

    memset(t, 0, sizeof(llmopt_trainer_t));

    t->ring = ring;
    t->policies = policies;
    t->n_policies = n;
    t->catalog = catalog;

    for (i = 0; i < n; i++) {
        /* the caller is the only writer: no reader can tear this copy */
        memcpy(policies[i].work, policies[i].shared, policies[i].size);
        policies[i].dirty = 0;
        policies[i].updates = 0;
        policies[i].reward_sum = 0;
    }
}


int
llmopt_trainer_learn(llmopt_trainer_t *t, const llmopt_event_t *ev,
    llmopt_reward_t *out)
{
    int                       rc;
    unsigned                  i, d;
    double                    x[LLMOPT_FEATURE_MAX_DIM], arm_quality;
    llmopt_reward_t           rw;
    llmopt_arm_tally_t       *tally;
    llmopt_trainer_policy_t  *tp;

    t->events++;

    if (ev->kind != LLMOPT_EVENT_OUTCOME) {
        t->declined++;
        return LLMOPT_DECLINED;
    }

    if (ev->catalog != t->catalog || ev->policy >= t->n_policies) {
        t->stale++;
        return LLMOPT_DECLINED;
    }

    tp = &t->policies[ev->policy];

    d = tp->policy->bandit.d;

    if (ev->arm >= tp->policy->n_arms || ev->d != d
        || d > LLMOPT_FEATURE_MAX_DIM)
    {
        t->stale++;
        return LLMOPT_DECLINED;
    }

    tally = tp->tally != NULL ? &tp->tally[ev->arm] : NULL;
    arm_quality = tally != NULL && tally->scored > 0
                  ? tally->quality_sum / tally->scored : -1;

    rc = llmopt_reward_arm(&tp->policy->reward, ev, arm_quality, &rw);

    if (rw.source == LLMOPT_QUALITY_UNSCORED) {
        t->unscored++;

        if (tally != NULL) {
            tally->unscored += 1;
        }
    }

    if (rc != LLMOPT_OK) {
        t->declined++;
        return LLMOPT_DECLINED;
    }

    for (i = 0; i < d; i++) {
        x[i] = ev->x[i];
    }

    llmopt_bandit_update(&tp->policy->bandit, tp->work, ev->arm, x,
                         rw.reward);

    if (tp->sparse != NULL && tp->policy->sparse_on) {
        llmopt_sparse_update(&tp->policy->sparse, tp->sparse,
                             tp->sparse_local, ev->arm, &ev->sparse, ev->x,
                             rw.reward);
    }

    if (tp->variants != NULL && tp->policy->n_variants) {
        llmopt_variant_learn(&tp->variants[ev->arm * LLMOPT_MAX_VARIANTS],
                             tp->policy->n_variants, ev->variant, rw.reward,
                             ev->variant_propensity);
    }

    tp->dirty = 1;
    tp->updates++;
    tp->reward_sum += rw.reward;

    if (tally != NULL) {
        tally->rewards += 1;
        tally->reward_sum += rw.reward;
        tally->reward_sq += rw.reward * rw.reward;

        if (rw.source == LLMOPT_QUALITY_FAILURE) {
            tally->failures += 1;

        } else if (rw.source == LLMOPT_QUALITY_FEEDBACK) {
            tally->scored += 1;
            tally->quality_sum += rw.quality;
        }
    }

    t->updates++;

    if (rw.source == LLMOPT_QUALITY_FAILURE) {
        t->failures++;
    }

    if (t->learned != NULL) {
        t->learned(t->learned_data, ev, &rw);
    }

    if (out != NULL) {
        *out = rw;
    }

    return LLMOPT_OK;
}


unsigned
llmopt_trainer_drain(llmopt_trainer_t *t, unsigned max, uint64_t now_ms)
{
    int             rc;
    unsigned        n;
    uint64_t        pos;
    llmopt_event_t  ev;

    if (t->ring == NULL) {
        return 0;
    }

    for (n = 0; n < max; /* void */) {

        rc = llmopt_ring_pop(t->ring, &ev);

        if (rc == LLMOPT_OK) {
            t->stuck_since = 0;
            n++;

            if (now_ms > ev.done_ms && ev.done_ms != 0
                && now_ms - ev.done_ms > t->lag_ms)
            {
                t->lag_ms = now_ms - ev.done_ms;
            }

            (void) llmopt_trainer_learn(t, &ev, NULL);
            continue;
        }

        if (rc != LLMOPT_AGAIN) {
            /* empty, or a slot of another layout: nothing more now */
            break;
        }

        /* the next slot is claimed but not written yet */

        pos = llmopt_ring_tail(t->ring);

        if (t->stuck_since == 0 || t->stuck_pos != pos) {
            t->stuck_pos = pos;
            t->stuck_since = now_ms ? now_ms : 1;
            break;
        }

        if (now_ms - t->stuck_since < LLMOPT_TRAINER_STUCK_MS) {
            break;
        }

        if (llmopt_ring_skip(t->ring) != LLMOPT_OK) {
            break;
        }

        t->skipped++;
        t->stuck_since = 0;
    }

    return n;
}


unsigned
llmopt_trainer_publish(llmopt_trainer_t *t)
{
    unsigned                  i, n;
    llmopt_trainer_policy_t  *tp;

    n = 0;

    for (i = 0; i < t->n_policies; i++) {
        tp = &t->policies[i];

        if (!tp->dirty) {
            continue;
        }

        if (tp->others != NULL && tp->scratch != NULL) {
            /* merged outside the lock: readers wait only for the copy */
            memcpy(tp->scratch, tp->work, tp->size);
            llmopt_bandit_merge(&tp->policy->bandit, tp->scratch, tp->others);

            llmopt_seqlock_write_begin(tp->lock);
            memcpy(tp->shared, tp->scratch, tp->size);
            llmopt_seqlock_write_end(tp->lock);

        } else {
            llmopt_seqlock_write_begin(tp->lock);
            memcpy(tp->shared, tp->work, tp->size);
            llmopt_seqlock_write_end(tp->lock);
        }

        tp->dirty = 0;
        n++;
    }

    t->publishes += n;

    return n;
}
