/*
 * Copyright (C) llmopt authors
 *
 * The decision of an arm for a request, rule by rule (llmopt_decide.h).
 */

#include <string.h>

#include "llmopt_decide.h"


static unsigned llmopt_decide_count(const unsigned char *allowed,
    unsigned n_arms, unsigned except);
static void llmopt_decide_boost(const llmopt_decide_in_t *in,
    const unsigned char *allowed, llmopt_choice_t *choice);
static void llmopt_decide_variant(const llmopt_decide_in_t *in,
    llmopt_decide_out_t *out);


int
llmopt_decide(const llmopt_decide_in_t *in, llmopt_decide_out_t *out)
{
    int                     probe, failover;
    double                  share;
    unsigned                a, c, i, n, n_arms, pinned, canary;
    unsigned char          *fits;
    llmopt_choice_t         choice;
    const llmopt_policy_t  *policy;
    unsigned char           allowed[LLMOPT_MAX_ARMS];

    policy = in->policy;
    n_arms = policy->n_arms;
    failover = in->failed != NULL;
    fits = out->fits;

    memset(out, 0, sizeof(llmopt_decide_out_t));
    out->variant = -1;
    memset(&choice, 0, sizeof(llmopt_choice_t));

    /* 1. the arms the request fits (context windows, max_cost) */

    n = llmopt_guard_mask(in->catalog, policy, in->need, fits, &out->why);

    if (failover) {
        for (a = 0; a < n_arms; a++) {
            fits[a] = fits[a] && !in->failed[a];
        }

    } else if (n == 0) {
        return LLMOPT_DECIDE_UNFIT;
    }

    /* 2. ... within the latency SLO (unless none is; penalised arms stay) */

    if (!failover && policy->latency_slo_ms && !policy->latency_slo_penalise)
    {
        n = 0;

        for (a = 0; a < n_arms; a++) {
            if (fits[a] && in->slo_breach[a]) {
                fits[a] = 2;            /* fits, but slow */
            }

            n += fits[a] == 1;
        }

        for (a = 0; a < n_arms; a++) {
            fits[a] = n ? fits[a] == 1 : fits[a] != 0;
        }
    }

    /* 3. ... within the budgets (near a cap: the cheaper arms) ... */

    if (!failover && policy->budgeted && in->budget != NULL
        && in->budget(in->data, fits) != LLMOPT_OK)
    {
        return LLMOPT_DECIDE_BUDGET;
    }

    /* 4. ... and whose circuit is closed; a half-open one may get a probe */

    memcpy(allowed, fits, n_arms);

    probe = -1;
    n = 0;

    for (a = 0; a < n_arms; a++) {
        if (!allowed[a]) {
            continue;
        }

        if (in->breaker_until[a] == 0) {
            n++;
            continue;
        }

        allowed[a] = 0;

        if (failover || in->now_ms < in->breaker_until[a] || probe >= 0
            || in->probe == NULL)
        {
            continue;
        }

        if (in->probe(in->data, a, in->now_ms)) {
            probe = (int) a;
        }
    }

    if (probe >= 0) {
        choice.arm = (unsigned) probe;
        choice.propensity = 1.0;
        choice.explore = 1;
        out->probe = 1;

    } else if (n == 0) {
        /* every circuit is open: trying one beats failing at once */
        memcpy(allowed, fits, n_arms);

        if (failover && llmopt_decide_count(allowed, n_arms, n_arms) == 0) {
            return LLMOPT_DECIDE_NONE;
        }
    }

    /* 5. a canary arm gets its stage's share, drawn here */

    share = failover ? -1 : in->canary_share;
    canary = 0;

    if (share >= 0 && probe < 0 && policy->canary.arm >= 0) {
        c = (unsigned) policy->canary.arm;
        n = llmopt_decide_count(allowed, n_arms, c);

        if (allowed[c] && (n == 0 || llmopt_rng_uniform(in->rng) < share)) {
            choice.arm = c;
            choice.propensity = n ? share : 1.0;
            choice.explore = 0;
            canary = 1;

        } else if (n) {
            allowed[c] = 0;
            share = 1.0 - share;        /* the others' part of the traffic */
        }
    }

    /* 6. a pin names an arm that fits */

    pinned = 0;

    for (i = 0; !failover && i < in->n_pins && !pinned; i++) {
        if (in->pins[i] >= 0 && (unsigned) in->pins[i] < n_arms
            && fits[in->pins[i]])
        {
            choice.arm = (unsigned) in->pins[i];
            choice.propensity = 1.0;
            choice.explore = 0;
            pinned = 1;
            out->probe = 0;
            probe = -1;
        }
    }

    /* 7. the bandit, with the drift boost */

    if (pinned || probe >= 0 || canary) {
        out->canary = canary && !pinned;
        out->arm = choice.arm;
        out->propensity = choice.propensity;
        out->explore = choice.explore ? 1 : 0;
        out->reason = pinned ? LLMOPT_DECIDE_PINNED
                      : probe >= 0 ? LLMOPT_DECIDE_PROBE
                      : LLMOPT_DECIDE_CANARY;

    } else if (in->select(in->data, in->x, allowed, in->rng, &choice)
               == LLMOPT_OK && choice.arm < n_arms)
    {
        if (!failover && policy->drift_response == LLMOPT_DRIFT_EXPLORE
            && in->explore_until_ms > in->now_ms)
        {
            llmopt_decide_boost(in, allowed, &choice);
        }

        out->arm = choice.arm;
        out->propensity = choice.propensity * (share >= 0 ? share : 1.0);
        out->explore = choice.explore ? 1 : 0;
        out->reason = LLMOPT_DECIDE_BANDIT;

    } else if (failover) {
        return LLMOPT_DECIDE_NONE;

    } else {
        out->arm = in->fallback;
        out->propensity = 1.0;
        out->reason = LLMOPT_DECIDE_FALLBACK;
    }

    /* 8. shadow: decided and counted, not applied; the fallback serves */

    if (!failover && in->shadow && !pinned) {
        out->shadow = 1;
        out->shadow_arm = out->arm;
        out->arm = in->fallback;
        out->explore = 0;
        out->propensity = 1.0;
    }

    /* 9. the prompt variant, given the arm */

    llmopt_decide_variant(in, out);

    return LLMOPT_DECIDE_OK;
}


static void
llmopt_decide_variant(const llmopt_decide_in_t *in, llmopt_decide_out_t *out)
{
    unsigned                v;
    double                  p;
    const llmopt_policy_t  *policy;
    llmopt_variant_tally_t  prior[LLMOPT_MAX_VARIANTS];

    policy = in->policy;
    out->variant = -1;
    out->variant_propensity = 1.0;

    if (policy->n_variants == 0 || out->shadow) {
        return;                         /* shadow: the body goes as it is */
    }

    if (in->variant_tally == NULL) {
        memset(prior, 0, sizeof(prior));
    }

    if (llmopt_variant_select(policy->variants, policy->n_variants,
                              in->variant_tally != NULL
                              ? &in->variant_tally[out->arm
                                                   * LLMOPT_MAX_VARIANTS]
                              : prior,
                              in->catalog->models[policy->arms[out->arm]
                                                  .model].api,
                              in->rng, &v, &p)
        == LLMOPT_OK)
    {
        out->variant = (int) v;
        out->variant_propensity = p;
    }
}


/* The arms allowed, but for arm except (out of range: none). */

static unsigned
llmopt_decide_count(const unsigned char *allowed, unsigned n_arms,
    unsigned except)
{
    unsigned  a, n;

    for (n = 0, a = 0; a < n_arms; a++) {
        n += allowed[a] && a != except;
    }

    return n;
}


/*
 * After a drift alarm with "response: explore": for a while a share of
 * the decisions go to an arm drawn uniformly among those allowed; the
 * propensity is the mixture's.
 */

static void
llmopt_decide_boost(const llmopt_decide_in_t *in,
    const unsigned char *allowed, llmopt_choice_t *choice)
{
    double    eps;
    unsigned  a, n, k, n_arms;

    n_arms = in->policy->n_arms;
    eps = in->policy->drift_explore;
    n = llmopt_decide_count(allowed, n_arms, n_arms);

    if (n < 2) {
        return;
    }

    if (llmopt_rng_uniform(in->rng) < eps) {
        k = (unsigned) (llmopt_rng_uniform(in->rng) * n);

        for (a = 0; a < n_arms; a++) {
            if (allowed[a] && k-- == 0) {
                break;
            }
        }

        if (a < n_arms && a != choice->arm) {
            choice->propensity = eps / n;
            choice->arm = a;
            choice->explore = 1;
            return;
        }
    }

    choice->propensity = (1 - eps) * choice->propensity + eps / n;
}
