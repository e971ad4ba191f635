/*
 * Copyright (C) llmopt authors
 *
 * A policy's guardrails (llmopt_catalog_guardrails.c).
 */


#ifndef _LLMOPT_CATALOG_GUARDRAILS_H_INCLUDED_
#define _LLMOPT_CATALOG_GUARDRAILS_H_INCLUDED_


#include "llmopt_catalog.h"
#include "llmopt_catalog_values.h"


/*
 * Each reads its field f of the policy (value NULL: not set, the defaults
 * stay); the arms are known by now.
 */

/*
 * The mapping a policy has under key (drift, budget, canary, breaker,
 * cache), its keys names[] read into f; sub_where (LLMOPT_CATALOG_WHERE_LEN
 * bytes) names it for messages.  LLMOPT_DECLINED when there is none.
 */
int llmopt_catalog_submap(llmopt_catalog_ctx_t *ctx,
    const llmopt_policy_t *policy, const llmopt_catalog_field_t *field,
    const char *key, const char *const *names, llmopt_catalog_field_t *f,
    const char *where, char *sub_where);

int llmopt_catalog_breaker(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const llmopt_catalog_field_t *breaker,
    const char *where);
int llmopt_catalog_budget(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const llmopt_catalog_field_t *budget,
    const char *where);
int llmopt_catalog_canary(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const llmopt_catalog_field_t *canary,
    const char *where);
int llmopt_catalog_drift(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const llmopt_catalog_field_t *drift,
    const char *where);


#endif /* _LLMOPT_CATALOG_GUARDRAILS_H_INCLUDED_ */
