/*
 * Copyright (C) llmopt authors
 *
 * The "policies" section (llmopt_catalog_policies.c).
 */


#ifndef _LLMOPT_CATALOG_POLICIES_H_INCLUDED_
#define _LLMOPT_CATALOG_POLICIES_H_INCLUDED_


#include "llmopt_catalog.h"
#include "llmopt_catalog_values.h"


/* Fills ctx->cat->policies; the models are checked by now. */

int llmopt_catalog_policies(llmopt_catalog_ctx_t *ctx,
    const llmopt_catalog_field_t *f);

/*
 * The "sparse" mapping of policy (bits, ngrams, learning_rate,
 * exploration) into policy->sparse; arms and features are known by now.
 * Checked whatever the algorithm; policy->sparse is all 0 unless it is
 * sparse.
 * llmopt_catalog_sparse.c.
 */

int llmopt_catalog_sparse(llmopt_catalog_ctx_t *ctx, llmopt_policy_t *policy,
    const llmopt_node_t *algorithm, llmopt_catalog_field_t *f,
    const char *where);

/*
 * The "variants" mapping of policy (f->value NULL: none) into
 * policy->variants, the first the control; arms are known by now.
 * llmopt_catalog_variants.c.
 */

int llmopt_catalog_variants(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const llmopt_catalog_field_t *f,
    const char *where);

/*
 * The "cascade" mapping of policy (tiers, max_tiers, time_budget_ms and
 * the acceptance model's tunables) into policy->cascade; the arms are
 * known by now.  policy->cascade.n_tiers is 0 without one.
 * llmopt_catalog_cascade.c.
 */

int llmopt_catalog_cascade(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const llmopt_catalog_field_t *f,
    const char *where);


#endif /* _LLMOPT_CATALOG_POLICIES_H_INCLUDED_ */
