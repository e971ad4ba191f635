/*
 * Copyright (C) llmopt authors
 *
 * The decision: which arm of a policy takes a request, and with what
 * propensity.  One function applies the rules in their order -- the
 * context windows and max_cost, the latency SLO, the budgets, the circuit
 * breakers (a half-open arm may get a probe), the canary's share, the pin,
 * the bandit, the drift exploration boost, shadow -- over the state the
 * caller hands in.  It reads no clock and no shared memory of its own:
 * the budget, the probe and the bandit are the caller's, through
 * callbacks, so that nginx and scripts/replay decide alike.
 */

#ifndef _LLMOPT_DECIDE_H_INCLUDED_
#define _LLMOPT_DECIDE_H_INCLUDED_


#include <stdint.h>

#include "llmopt_core.h"
#include "llmopt_bandit.h"
#include "llmopt_catalog.h"
#include "llmopt_guard.h"
#include "llmopt_rng.h"
#include "llmopt_variant.h"


#define LLMOPT_DECIDE_MAX_PINS    8     /* pin names looked at, in order */

/* results of llmopt_decide() */
#define LLMOPT_DECIDE_OK          0     /* out->arm is set */
#define LLMOPT_DECIDE_UNFIT       1     /* no arm fits: out->why says why */
#define LLMOPT_DECIDE_BUDGET      2     /* the budget callback refused */
#define LLMOPT_DECIDE_NONE        3     /* failover: no other arm can */

/* what chose the arm (out->reason) */
#define LLMOPT_DECIDE_BANDIT      0
#define LLMOPT_DECIDE_PROBE       1     /* a half-open circuit's probe */
#define LLMOPT_DECIDE_CANARY      2
#define LLMOPT_DECIDE_PINNED      3
#define LLMOPT_DECIDE_FALLBACK    4     /* the bandit could not choose */


/*
 * The bandit's choice among the allowed arms (n_arms bytes, nonzero = may
 * be chosen) for features x, drawing from rng: LLMOPT_OK with choice
 * set, anything else when it cannot choose.
 */
typedef int (*llmopt_decide_select_pt)(void *data, const double *x,
    const unsigned char *allowed, llmopt_rng_t *rng,
    llmopt_choice_t *choice);

/*
 * The budgets, for the arms that fit so far (fits, n_arms bytes): clears
 * those the room left cannot pay for (near a cap: the dearer ones);
 * LLMOPT_OK when some arm is left, anything else to refuse the request.
 */
typedef int (*llmopt_decide_budget_pt)(void *data, unsigned char *fits);

/*
 * Claims the probe of half-open arm a at now: 1 when this request is it
 * (no other probe of the arm is under way), 0 otherwise.
 */
typedef int (*llmopt_decide_probe_pt)(void *data, unsigned a, uint64_t now);


typedef struct {
    const llmopt_catalog_t     *catalog;
    const llmopt_policy_t      *policy;
    const llmopt_guard_need_t  *need;
    const double               *x;              /* the request's features */

    unsigned                    fallback;       /* the arm when the bandit
                                                   cannot choose; shadow's */
    uint64_t                    now_ms;         /* the request's clock */

    /* per arm, n_arms of each */
    const unsigned char        *slo_breach;     /* p95 above latency_slo */
    const uint64_t             *breaker_until;  /* open until (ms), 0 =
                                                   closed; past now =
                                                   half-open */

    double                      canary_share;   /* < 0: no canary stage */
    int                         pins[LLMOPT_DECIDE_MAX_PINS];
    unsigned                    n_pins;         /* the arms the pin header
                                                   names, in its order */
    unsigned                    shadow;         /* decide, serve fallback */
    uint64_t                    explore_until_ms;  /* drift boost until */

    /* failover: these arms failed; only fit, breakers and the bandit */
    const unsigned char        *failed;         /* NULL: a first decision */

    /* prompt variants: the learner's tallies (LLMOPT_VARIANT_TALLY(n_arms)
       of them), NULL: the prior */
    const llmopt_variant_tally_t  *variant_tally;

    llmopt_rng_t               *rng;
    llmopt_decide_select_pt     select;
    llmopt_decide_budget_pt     budget;         /* when policy->budgeted */
    llmopt_decide_probe_pt      probe;
    void                       *data;           /* of the callbacks */
} llmopt_decide_in_t;


typedef struct {
    unsigned                    arm;            /* the arm that serves */
    unsigned                    reason;         /* LLMOPT_DECIDE_BANDIT.. */
    double                      propensity;
    unsigned                    explore:1;
    unsigned                    probe:1;        /* arm is a probe */
    unsigned                    canary:1;       /* the canary's share */
    unsigned                    shadow:1;       /* arm is the fallback */
    unsigned                    shadow_arm;     /* the one decided */
    unsigned                    why;            /* LLMOPT_GUARD_* if UNFIT */
    int                         variant;        /* of the arm that serves,
                                                   -1: none */
    double                      variant_propensity;  /* P(variant | arm) */
    unsigned char               fits[LLMOPT_MAX_ARMS];  /* after fit, SLO
                                                   and budget */
} llmopt_decide_out_t;


/*
 * The decision for one request, in this order:
 *
 *   1. fit: llmopt_guard_mask(); none fits: UNFIT (a failover: NONE);
 *      the failed arms are left out;
 *   2. latency SLO (unless "penalise"): the arms in breach are left out
 *      unless every fitting arm is;
 *   3. budgets: in->budget narrows the arms, or refuses (BUDGET);
 *   4. breakers: an open circuit's arm is left out; the first half-open
 *      one whose probe in->probe grants is chosen (propensity 1, explore;
 *      never on a failover); all open: every fitting arm is allowed again;
 *   5. canary (no probe): its arm is chosen with the stage's share (or
 *      alone allowed: 1.0); else it is left out and the others' part is
 *      1 - share;
 *   6. pin: the first pin among the fitting arms, propensity 1.0,
 *      overrides probe and canary;
 *   7. the bandit over the allowed arms; its propensity times the
 *      others' part of a canary; with a drift alarm's window open the
 *      boost mixes in a uniform pick of in->policy->drift_explore; the
 *      bandit cannot choose: the fallback arm, 1.0 (a failover: NONE);
 *   8. shadow (not pinned): the decision goes to shadow_arm and the
 *      fallback arm serves, propensity 1.0;
 *   9. the prompt variant of the arm that serves, when the policy has
 *      variants and the decision is not shadow's (its body is sent as it
 *      came): llmopt_variant_select() over the arm's row of
 *      in->variant_tally among those the dialect of the arm's model can
 *      express -- the body is rewritten in it, translated first if the
 *      client's is another (none can: variant -1) -- with its own
 *      propensity (the arm's is not multiplied).
 *
 * A failover (in->failed set) does 1, 4 without the probe, and 7 without
 * the boost.  The rng is drawn from in this order: canary, bandit, boost,
 * variant.
 */
int llmopt_decide(const llmopt_decide_in_t *in, llmopt_decide_out_t *out);


#endif /* _LLMOPT_DECIDE_H_INCLUDED_ */
