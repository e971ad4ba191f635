/*
 * Copyright (C) llmopt authors
 *
 * The catalog as the rest of the core reads it: lookups of policies,
 * models and arms by name, a model's cost, the names of the unscored
 * modes.  Loading and checking is in llmopt_catalog_load.c and the
 * llmopt_catalog_<section>.c files below it.
 */


#include <string.h>

#include "llmopt_catalog.h"


/* by LLMOPT_UNSCORED_*; "none" is not a word of the catalog */
static const char *const  llmopt_catalog_unscored[] = {
    "none", "observed", "skip", "proxy", NULL
};


const llmopt_policy_t *
llmopt_catalog_policy(const llmopt_catalog_t *cat, const char *name,
    size_t len)
{
    unsigned  i;

    for (i = 0; i < cat->n_policies; i++) {
        if (cat->policies[i].name.len == len
            && memcmp(cat->policies[i].name.data, name, len) == 0)
        {
            return &cat->policies[i];
        }
    }

    return NULL;
}


const llmopt_model_t *
llmopt_catalog_model(const llmopt_catalog_t *cat, const char *name,
    size_t len)
{
    unsigned  i;

    for (i = 0; i < cat->n_models; i++) {
        if (cat->models[i].name.len == len
            && memcmp(cat->models[i].name.data, name, len) == 0)
        {
            return &cat->models[i];
        }
    }

    return NULL;
}


int
llmopt_policy_arm(const llmopt_policy_t *policy, const char *name,
    size_t len)
{
    unsigned  i;

    for (i = 0; i < policy->n_arms; i++) {
        if (policy->arms[i].name.len == len
            && memcmp(policy->arms[i].name.data, name, len) == 0)
        {
            return (int) i;
        }
    }

    return -1;
}


llmopt_dialect_e
llmopt_model_dialect(const llmopt_model_t *model, llmopt_dialect_e client)
{
    return model->api_client ? client : model->api;
}


double
llmopt_model_cost(const llmopt_model_t *model, uint64_t input_tokens,
    uint64_t cached_tokens, uint64_t output_tokens)
{
    if (cached_tokens > input_tokens) {
        cached_tokens = input_tokens;
    }

    return ((double) (input_tokens - cached_tokens) * model->price_input
            + (double) cached_tokens * model->price_cached_input
            + (double) output_tokens * model->price_output)
           / 1e6;
}


const char *
llmopt_unscored_name(unsigned unscored)
{
    return unscored <= LLMOPT_UNSCORED_PROXY
           ? llmopt_catalog_unscored[unscored] : NULL;
}
