/*
 * Copyright (C) llmopt authors
 *
 * Guardrails decided before a request is sent: what it is expected to
 * need (tokens in and out) and which arms a policy's constraints allow --
 * a model whose context window cannot hold it, or whose estimated cost
 * breaks the policy's max_cost, is never chosen.
 */

#ifndef _LLMOPT_GUARD_H_INCLUDED_
#define _LLMOPT_GUARD_H_INCLUDED_


#include "llmopt_core.h"
#include "llmopt_catalog.h"
#include "llmopt_request.h"


#define LLMOPT_GUARD_CONTEXT   0x01          /* an arm too small */
#define LLMOPT_GUARD_COST      0x02          /* an arm too dear */


typedef struct {
    uint64_t   input_tokens;                 /* estimated from text bytes */
    uint64_t   output_tokens;                /* max_tokens; 0 when absent */
} llmopt_guard_need_t;


/* The tokens a parsed request is expected to need. */
void llmopt_guard_need(const llmopt_request_t *req, llmopt_guard_need_t *need);

/* Its estimated cost on a model, USD: every token at list price. */
double llmopt_guard_cost(const llmopt_model_t *model,
    const llmopt_guard_need_t *need);

/*
 * Sets allowed[a] (n_arms bytes) to 1 for the arms of policy that fit
 * need: the model's context window (when stated) holds input + output
 * tokens, and the estimated cost is within max_cost (when set).  *why
 * collects LLMOPT_GUARD_* of the arms left out.  Returns how many are
 * allowed.
 */
unsigned llmopt_guard_mask(const llmopt_catalog_t *cat,
    const llmopt_policy_t *policy, const llmopt_guard_need_t *need,
    unsigned char *allowed, unsigned *why);


/*
 * The 95th percentile of v[0 .. n - 1] (nearest rank), sorting a copy in
 * tmp (n floats); 0 when n is 0.
 */
double llmopt_guard_p95(const float *v, unsigned n, float *tmp);


#endif /* _LLMOPT_GUARD_H_INCLUDED_ */
