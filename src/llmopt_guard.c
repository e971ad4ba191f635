/*
 * Copyright (C) llmopt authors
 */


#include "llmopt_guard.h"
#include "llmopt_features.h"


void
llmopt_guard_need(const llmopt_request_t *req, llmopt_guard_need_t *need)
{
    /* the same estimate as the input_tokens feature, rounded up */
    need->input_tokens = (req->text_bytes + LLMOPT_FEATURE_BYTES_PER_TOKEN - 1)
                         / LLMOPT_FEATURE_BYTES_PER_TOKEN;
    need->output_tokens = req->max_tokens > 0 ? (uint64_t) req->max_tokens
                                              : 0;
}


double
llmopt_guard_cost(const llmopt_model_t *model,
    const llmopt_guard_need_t *need)
{
    return llmopt_model_cost(model, need->input_tokens, 0,
                             need->output_tokens);
}


unsigned
llmopt_guard_mask(const llmopt_catalog_t *cat, const llmopt_policy_t *policy,
    const llmopt_guard_need_t *need, unsigned char *allowed, unsigned *why)
{
    unsigned              a, n;
    const llmopt_model_t *m;

    n = 0;
    *why = 0;

    for (a = 0; a < policy->n_arms; a++) {
        m = &cat->models[policy->arms[a].model];
        allowed[a] = 1;

        if (m->context_window
            && need->input_tokens + need->output_tokens > m->context_window)
        {
            allowed[a] = 0;
            *why |= LLMOPT_GUARD_CONTEXT;
            continue;
        }

        if (policy->max_cost > 0 && llmopt_guard_cost(m, need)
                                    > policy->max_cost)
        {
            allowed[a] = 0;
            *why |= LLMOPT_GUARD_COST;
            continue;
        }

        n++;
    }

    return n;
}


double
llmopt_guard_p95(const float *v, unsigned n, float *tmp)
{
    float     x;
    unsigned  i, j, rank;

    if (n == 0) {
        return 0;
    }

    /* insertion sort: n is a few hundred at most, once a tick */

    for (i = 0; i < n; i++) {
        x = v[i];

        for (j = i; j > 0 && tmp[j - 1] > x; j--) {
            tmp[j] = tmp[j - 1];
        }

        tmp[j] = x;
    }

    rank = (unsigned) (0.95 * n + 0.999999);     /* ceil, nearest rank */
    rank = rank == 0 ? 1 : rank > n ? n : rank;

    return tmp[rank - 1];
}
