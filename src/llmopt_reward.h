/*
 * Copyright (C) llmopt authors
 *
 * The reward of one routed request, in [0, 1], from its outcome event and
 * its policy's reward configuration.  docs/LEARNING.md, "Reward", is the
 * contract; the choices it records are made here.
 */

#ifndef _LLMOPT_REWARD_H_INCLUDED_
#define _LLMOPT_REWARD_H_INCLUDED_


#include "llmopt_core.h"
#include "llmopt_catalog.h"
#include "llmopt_ring.h"


/* used when a configuration states no usable reference */
#define LLMOPT_REWARD_COST_REF      0.01      /* USD per request */
#define LLMOPT_REWARD_LATENCY_REF   2000.0    /* ms */

/* quality proxies of a 2xx response, by finish reason */
#define LLMOPT_REWARD_Q_COMPLETE    1.0       /* stop, tool call */
#define LLMOPT_REWARD_Q_LENGTH      0.5       /* cut by max_tokens */
#define LLMOPT_REWARD_Q_OTHER       0.25      /* content filter, refusal */
#define LLMOPT_REWARD_Q_UNSEEN      0.5       /* no finish reason seen */

/* a cost or latency term when the value is not known */
#define LLMOPT_REWARD_UNKNOWN_TERM  0.5


typedef enum {
    LLMOPT_QUALITY_FEEDBACK = 0,    /* explicit score: feedback, header */
    LLMOPT_QUALITY_PROXY,           /* a 2xx response's finish reason */
    LLMOPT_QUALITY_FAILURE,         /* not 2xx, timeout, error object */
    LLMOPT_QUALITY_UNSCORED         /* feedback awaited, none came */
} llmopt_quality_source_e;


/* The reward and its parts, for learning, variables and status. */

typedef struct {
    double                   reward;       /* [0, 1] */
    double                   quality;      /* q, [0, 1] */
    double                   cost;         /* cost term, [0, 1] */
    double                   latency;      /* latency term, [0, 1] */
    llmopt_quality_source_e  source;
} llmopt_reward_t;


/*
 * Scores the OUTCOME event ev (ev->quality already holding any explicit
 * score that was joined to it) under conf, whose weights need not be
 * normalised (negative or NaN weights count as 0; all 0 scores quality
 * alone) and whose references fall back to the defaults above when not
 * > 0 and finite.  A pure function: no state, never fails on any field
 * value, NaN and infinities included.
 *
 * Returns LLMOPT_OK with *out filled, every number in [0, 1] and never
 * NaN; LLMOPT_DECLINED when the event teaches nothing about its arm: not
 * an OUTCOME, or status 499 (the client went away first); *out is zeroed
 * then; or an unscored answer (below) not learned, *out zeroed but for
 * its source.
 */
int llmopt_reward(const llmopt_reward_conf_t *conf, const llmopt_event_t *ev,
    llmopt_reward_t *out);

/*
 * llmopt_reward() for the trainer, which knows the arm: arm_quality is the
 * mean quality of the arm's scored answers (source FEEDBACK) so far, < 0
 * (or NaN) when it has none.  A successful answer without a score is
 * "unscored" (source UNSCORED) when conf->unscored is not
 * LLMOPT_UNSCORED_NONE (the policy waits for feedback): with PROXY it is
 * scored by its proxies; with OBSERVED and an arm_quality, with that
 * quality and its own cost and latency terms; otherwise (SKIP, or no
 * arm_quality yet) it is LLMOPT_DECLINED with the rest of *out zeroed, so
 * that the caller can count it.  llmopt_reward() is this with
 * arm_quality -1.
 */
int llmopt_reward_arm(const llmopt_reward_conf_t *conf,
    const llmopt_event_t *ev, double arm_quality, llmopt_reward_t *out);

/*
 * The reward of the three terms, each in [0, 1], under conf's weights
 * (normalised as llmopt_reward() does), in [0, 1]: what llmopt_reward()
 * gives before the SLO penalty, and what a cascade expects of an answer
 * it has not seen.
 */
double llmopt_reward_mix(const llmopt_reward_conf_t *conf, double quality,
    double cost, double latency);

/*
 * The cost term, ref / (ref + cost): 1 for a free call, 0.5 at the
 * reference, towards 0 for dearer calls.  ref is USD (the default when not
 * > 0 and finite); an unknown cost (negative, NaN) scores
 * LLMOPT_REWARD_UNKNOWN_TERM.
 */
double llmopt_reward_cost_term(double cost, double ref);

/* The latency term, the same shape in ms. */
double llmopt_reward_latency_term(double latency_ms, double ref);

/*
 * The quality proxy of a response without an explicit score, in [0, 1],
 * from its HTTP status, finish reason (llmopt_finish_e) and
 * LLMOPT_EVENT_* flags; sets *failed when the call failed (then 0).
 */
double llmopt_reward_proxy(unsigned status, unsigned finish, unsigned flags,
    int *failed);


#endif /* _LLMOPT_REWARD_H_INCLUDED_ */
