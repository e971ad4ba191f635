
/*
 * Copyright (C) llmopt authors
 *
 * A policy's "sparse" mapping, the sparse learner's settings
 * (llmopt_sparse.h): bits, ngrams, learning_rate, exploration.
 */


#include <math.h>
#include <stdio.h>
#include <string.h>

#include "llmopt_catalog.h"
#include "llmopt_catalog_policies.h"
#include "llmopt_catalog_values.h"


static const char *const  llmopt_catalog_sparse_keys[] = {
    "bits", "ngrams", "learning_rate", "exploration", NULL
};

enum {
    LLMOPT_SPARSE_F_BITS = 0,
    LLMOPT_SPARSE_F_NGRAMS,
    LLMOPT_SPARSE_F_LEARNING_RATE,
    LLMOPT_SPARSE_F_EXPLORATION,
    LLMOPT_SPARSE_F_LAST
};


int
llmopt_catalog_sparse(llmopt_catalog_ctx_t *ctx, llmopt_policy_t *policy,
    const llmopt_node_t *algorithm, llmopt_catalog_field_t *field,
    const char *where)
{
    uint64_t                bits, ngrams;
    llmopt_err_t            err;
    llmopt_sparse_conf_t   *conf;
    llmopt_catalog_field_t  f[LLMOPT_SPARSE_F_LAST];
    char                    swhere[LLMOPT_CATALOG_WHERE_LEN];

    conf = &policy->sparse;

    /* read and checked whatever the algorithm: switching to sparse is a
       change of one line that cannot fail then */

    llmopt_sparse_conf_defaults(conf);
    conf->n_arms = policy->n_arms;
    conf->d = policy->features.d;

    if (field->value != NULL) {
        (void) snprintf(swhere, sizeof(swhere), "sparse of policy \"%s\"",
                        policy->name.data);

        if (field->value->type != LLMOPT_CATALOG_MAP) {
            return llmopt_catalog_fail(ctx, field->value, "\"sparse\" in %s "
                                       "must be a mapping", where);
        }

        bits = conf->bits;
        ngrams = conf->ngrams;

        if (llmopt_catalog_fields(ctx, field->value,
                                  llmopt_catalog_sparse_keys, f, swhere)
            != LLMOPT_OK
            || (f[LLMOPT_SPARSE_F_BITS].value != NULL
                && llmopt_catalog_uint(ctx, &f[LLMOPT_SPARSE_F_BITS], swhere,
                                       LLMOPT_SPARSE_BITS_MIN,
                                       LLMOPT_SPARSE_BITS_MAX,
                                       "an integer from 10 to 24", &bits)
                   != LLMOPT_OK)
            || (f[LLMOPT_SPARSE_F_NGRAMS].value != NULL
                && llmopt_catalog_uint(ctx, &f[LLMOPT_SPARSE_F_NGRAMS],
                                       swhere, 1, 2, "1 or 2", &ngrams)
                   != LLMOPT_OK)
            || (f[LLMOPT_SPARSE_F_LEARNING_RATE].value != NULL
                && llmopt_catalog_number(ctx,
                                         &f[LLMOPT_SPARSE_F_LEARNING_RATE],
                                         swhere, 0, 1, 10, 0,
                                         "a number in (0, 10]",
                                         &conf->learning_rate)
                   != LLMOPT_OK)
            || (f[LLMOPT_SPARSE_F_EXPLORATION].value != NULL
                && llmopt_catalog_number(ctx, &f[LLMOPT_SPARSE_F_EXPLORATION],
                                         swhere, 0, 1, 1e6, 0,
                                         "a number in (0, 1000000]",
                                         &conf->exploration)
                   != LLMOPT_OK))
        {
            return LLMOPT_ERROR;
        }

        conf->bits = (unsigned) bits;
        conf->ngrams = (unsigned) ngrams;
    }

    memset(&err, 0, sizeof(llmopt_err_t));

    if (llmopt_sparse_conf_check(conf, &err) != LLMOPT_OK) {
        return llmopt_catalog_fail(ctx, field->value != NULL ? field->value
                                                             : algorithm,
                                   "%s: %s", where, err.msg);
    }

    if (!policy->sparse_on) {
        memset(conf, 0, sizeof(llmopt_sparse_conf_t));
    }

    return LLMOPT_OK;
}
