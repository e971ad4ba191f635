
/*
 * Copyright (C) llmopt authors
 *
 * The shared memory zone's parts across reloads: a policy's shape, its
 * blocks and counters carried arm by arm to new arms, the attic of removed
 * arms, what a reload retires.  The zone is made and attached by
 * ngx_http_llmopt_zone_init.c.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_zone.h"

#include "llmopt_hash.h"


#define NGX_HTTP_LLMOPT_NO_ARM  ((ngx_uint_t) -1)


static ngx_uint_t ngx_http_llmopt_find_arm(ngx_http_llmopt_block_t *block,
    ngx_str_t *name);


/*
 * The shape of a policy's parameter block: what must match for the whole
 * block to be reused after a reload.  The layout is the part of it that
 * one arm's record depends on — the algorithm, the prior, and for the
 * linear algorithms the features — : with the same layout, an arm's
 * record moves to the arm of the same name in a block of other arms.  Prices, headers
 * and hyperparameters other than the algorithm may change freely.
 */

void
ngx_http_llmopt_zone_shape(ngx_http_llmopt_policy_rt_t *prt)
{
    uint32_t                crc;
    ngx_uint_t              i;
    uint32_t                v[6], sparse[4];
    double                  prior[2];
    const llmopt_policy_t  *policy;

    policy = prt->policy;

    v[0] = policy->bandit.algorithm;
    v[1] = policy->bandit.n_arms;
    v[2] = policy->bandit.d;
    v[3] = (uint32_t) llmopt_bandit_size(&policy->bandit);
    v[4] = policy->features.tenant_buckets;
    v[5] = policy->features.word_buckets;

    /* the layout: all but the arms */

    prior[0] = policy->bandit.lambda;
    prior[1] = policy->bandit.prior_mean;

    /* algorithm sparse: its table's shape (the same epsilon_greedy block
       otherwise); other policies' shapes are as they always were */

    sparse[0] = policy->sparse_on;
    sparse[1] = policy->sparse.bits;
    sparse[2] = policy->sparse.ngrams;
    sparse[3] = (uint32_t) llmopt_sparse_size(&policy->sparse);

    ngx_crc32_init(crc);
    ngx_crc32_update(&crc, (u_char *) &v[0], sizeof(v[0]));
    ngx_crc32_update(&crc, (u_char *) prior, sizeof(prior));

    if (policy->sparse_on) {
        ngx_crc32_update(&crc, (u_char *) sparse, sizeof(sparse));
    }

    if (llmopt_bandit_linear_model(&policy->bandit)) {
        /* its A and b are of these features */
        ngx_crc32_update(&crc, (u_char *) &v[2], sizeof(v[2]));
        ngx_crc32_update(&crc, (u_char *) &v[4], 2 * sizeof(v[4]));
        ngx_crc32_update(&crc, (u_char *) policy->features.ids,
                         policy->features.n
                         * sizeof(policy->features.ids[0]));
    }

    ngx_crc32_final(crc);

    prt->layout = ((uint64_t) NGX_HTTP_LLMOPT_BLOCK_VERSION << 32) | crc;

    /* the shape, as it always was */

    ngx_crc32_init(crc);
    ngx_crc32_update(&crc, (u_char *) v, sizeof(v));
    ngx_crc32_update(&crc, (u_char *) policy->features.ids,
                     policy->features.n * sizeof(policy->features.ids[0]));

    if (policy->sparse_on) {
        ngx_crc32_update(&crc, (u_char *) sparse, sizeof(sparse));
    }

    for (i = 0; i < policy->n_arms; i++) {
        ngx_crc32_update(&crc, (u_char *) policy->arms[i].name.data,
                         policy->arms[i].name.len + 1);
    }

    ngx_crc32_final(crc);

    prt->shape = ((uint64_t) NGX_HTTP_LLMOPT_BLOCK_VERSION << 32) | crc;
}


/*
 * A block of prt's parameters; with "sparse", a sparse policy's table
 * follows them (the block readers use; the Redis copies have none).
 */

ngx_http_llmopt_block_t *
ngx_http_llmopt_new_block(ngx_slab_pool_t *shpool,
    ngx_http_llmopt_policy_rt_t *prt, ngx_uint_t sparse)
{
    size_t                    size, table;
    ngx_uint_t                a;
    ngx_http_llmopt_block_t  *block;

    size = llmopt_bandit_size(&prt->policy->bandit);
    table = sparse ? ngx_http_llmopt_sparse_bytes(prt->policy) : 0;

    block = ngx_slab_calloc_locked(shpool,
                                 offsetof(ngx_http_llmopt_block_t, params)
                                 + size + table);
    if (block == NULL) {
        return NULL;
    }

    block->shape = prt->shape;
    block->layout = prt->layout;
    block->size = size;
    block->sparse = table;
    block->n_arms = prt->n_arms;

    for (a = 0; a < prt->n_arms; a++) {
        ngx_memcpy(block->arm[a], prt->arms[a].name.data,
                   ngx_min(prt->arms[a].name.len, LLMOPT_CATALOG_NAME_MAX));
    }

    llmopt_bandit_init(&prt->policy->bandit, block->params);

    if (table) {
        llmopt_sparse_init(&prt->policy->sparse,
                           ngx_http_llmopt_block_sparse(block));
    }

    return block;
}


size_t
ngx_http_llmopt_sparse_bytes(const llmopt_policy_t *policy)
{
    return policy->sparse_on ? llmopt_sparse_size(&policy->sparse) : 0;
}


static ngx_uint_t
ngx_http_llmopt_find_arm(ngx_http_llmopt_block_t *block, ngx_str_t *name)
{
    ngx_uint_t  a;

    if (block == NULL) {
        return NGX_HTTP_LLMOPT_NO_ARM;
    }

    for (a = 0; a < block->n_arms; a++) {
        if (ngx_strlen(block->arm[a]) == name->len
            && ngx_strncmp(block->arm[a], name->data, name->len) == 0)
        {
            return a;
        }
    }

    return NGX_HTTP_LLMOPT_NO_ARM;
}


/*
 * A policy whose shape changed: each arm of the new block "to" takes the
 * record of the arm of its name from the old block from[0], else from the
 * attic from[1], from[2] (an arm removed by one of the last two changes),
 * when the layout still applies; any of them may be NULL.  Every arm that
 * starts anew is reported at [error], which Debian's default error_log
 * shows, with the reason; every arm back from the attic, and every arm of
 * from[0] that "to" lacks, at [notice].
 */

void
ngx_http_llmopt_zone_carry(ngx_http_llmopt_block_t *to,
    ngx_http_llmopt_policy_rt_t *prt, ngx_http_llmopt_block_t **from,
    ngx_log_t *log)
{
    ngx_str_t   name;
    ngx_uint_t  a, k, src;
    const char *why;

    for (a = 0; a < prt->n_arms; a++) {
        why = "it is a new arm";

        for (k = 0; k < 3; k++) {
            src = ngx_http_llmopt_find_arm(from[k], &prt->arms[a].name);
            if (src == NGX_HTTP_LLMOPT_NO_ARM) {
                continue;
            }

            if (from[k]->layout != to->layout
                || llmopt_bandit_copy_arm(&prt->policy->bandit, to->params,
                                          a, from[k]->params, src)
                   != LLMOPT_OK)
            {
                why = "the policy's algorithm, prior or features changed";
                continue;
            }

            if (k > 0) {
                ngx_log_error(NGX_LOG_NOTICE, log, 0,
                              "llmopt policy \"%V\": arm \"%V\" is back "
                              "with its learned state (%uL updates)",
                              &prt->name, &prt->arms[a].name,
                              (uint64_t) llmopt_bandit_arm_count(
                                  &prt->policy->bandit, to->params, a));
            }

            why = NULL;
            break;
        }

        if (why != NULL) {
            ngx_log_error(NGX_LOG_ERR, log, 0,
                          "llmopt policy \"%V\": arm \"%V\" starts learning "
                          "anew: %s", &prt->name, &prt->arms[a].name, why);
        }
    }

    for (k = 0; from[0] != NULL && k < from[0]->n_arms; k++) {
        name.data = from[0]->arm[k];
        name.len = ngx_strlen(name.data);

        if (ngx_http_llmopt_find_arm(to, &name) == NGX_HTTP_LLMOPT_NO_ARM) {
            ngx_log_error(NGX_LOG_NOTICE, log, 0,
                          "llmopt policy \"%V\": arm \"%V\" was removed; "
                          "its learned state waits two changes of the "
                          "policy's arms to be put back",
                          &prt->name, &name);
        }
    }
}


/*
 * The counters of a policy whose arms moved, removed or added: a copy,
 * each arm's counters at its new index, new arms at 0.  The old copy (and
 * the per-minute history, whose series are by arm index) waits for the
 * old workers.  With the arms where they were, the counters are shared.
 */

ngx_int_t
ngx_http_llmopt_remap_stats(ngx_slab_pool_t *shpool,
    ngx_http_llmopt_shctx_t *sh, ngx_http_llmopt_shpolicy_t *old,
    ngx_http_llmopt_policy_rt_t *prt, ngx_http_llmopt_stats_t **stats)
{
    ngx_uint_t                a, src, moved;
    ngx_uint_t                map[LLMOPT_MAX_ARMS];
    ngx_http_llmopt_stats_t  *o, *st;

    o = old->stats;

    moved = old->block->n_arms != prt->n_arms;

    for (a = 0; a < prt->n_arms; a++) {
        map[a] = ngx_http_llmopt_find_arm(old->block, &prt->arms[a].name);
        moved |= map[a] != a;
    }

    if (!moved) {
        *stats = o;
        return NGX_OK;
    }

    st = ngx_slab_alloc_locked(shpool, sizeof(ngx_http_llmopt_stats_t));
    if (st == NULL) {
        return NGX_ERROR;
    }

    ngx_memcpy(st, o, sizeof(ngx_http_llmopt_stats_t));

    for (a = 0; a < LLMOPT_MAX_ARMS; a++) {
        src = a < prt->n_arms ? map[a] : NGX_HTTP_LLMOPT_NO_ARM;

        if (src == NGX_HTTP_LLMOPT_NO_ARM) {
            st->arm_shadow[a] = 0;
            st->arm_requests[a] = 0;
            st->arm_explore[a] = 0;
            ngx_memzero(&st->arms[a], sizeof(st->arms[a]));
            ngx_memzero(&st->tally[a], sizeof(st->tally[a]));
            continue;
        }

        st->arm_shadow[a] = o->arm_shadow[src];
        st->arm_requests[a] = o->arm_requests[src];
        st->arm_explore[a] = o->arm_explore[src];
        st->arms[a] = o->arms[src];
        st->tally[a] = o->tally[src];
    }

    /* the variants' tallies move with their arms, in a table of their own */

    if (o->variants != NULL) {
        st->variants = ngx_slab_calloc_locked(shpool,
                                              NGX_HTTP_LLMOPT_VARIANTS);
        if (st->variants == NULL) {
            return NGX_ERROR;
        }

        for (a = 0; a < prt->n_arms; a++) {
            if (map[a] != NGX_HTTP_LLMOPT_NO_ARM) {
                ngx_memcpy(&st->variants[a * LLMOPT_MAX_VARIANTS],
                           &o->variants[map[a] * LLMOPT_MAX_VARIANTS],
                           LLMOPT_MAX_VARIANTS
                           * sizeof(llmopt_variant_tally_t));
            }
        }

        ngx_http_llmopt_retire(sh, o->variants);
    }

    st->history = NULL;

    if (o->history != NULL) {
        ngx_http_llmopt_retire(sh, o->history);
    }

    ngx_http_llmopt_retire(sh, o);

    *stats = st;

    return NGX_OK;
}


/* A policy the new configuration does not have: all of it is retired. */

void
ngx_http_llmopt_drop_policy(ngx_http_llmopt_shctx_t *sh,
    ngx_http_llmopt_shpolicy_t *old, ngx_log_t *log)
{
    ngx_uint_t  k;

    ngx_log_error(NGX_LOG_ERR, log, 0,
                  "llmopt policy \"%*s\" was removed: its learned state "
                  "and counters are dropped", old->name_len, old->name);

    ngx_http_llmopt_retire(sh, old->block);

    if (old->local != NULL) {
        ngx_http_llmopt_retire(sh, old->local);
    }

    if (old->others != NULL) {
        ngx_http_llmopt_retire(sh, old->others);
    }

    for (k = 0; k < 2; k++) {
        if (old->attic[k] != NULL) {
            ngx_http_llmopt_retire(sh, old->attic[k]);
        }
    }

    if (old->stats != NULL) {
        if (old->stats->history != NULL) {
            ngx_http_llmopt_retire(sh, old->stats->history);
        }

        if (old->stats->budget != NULL) {
            ngx_http_llmopt_retire(sh, old->stats->budget);
        }

        ngx_http_llmopt_retire(sh, old->stats);
    }
}


/*
 * At start, from the state file: copies of a and b (each may be NULL)
 * become prt's attic in the zone.  Without room, an attic stays empty.
 */

void
ngx_http_llmopt_zone_attic(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_policy_rt_t *prt, ngx_http_llmopt_block_t *a,
    ngx_http_llmopt_block_t *b)
{
    size_t                        len;
    ngx_uint_t                    k, i;
    ngx_http_llmopt_block_t      *from[2], *to;
    ngx_http_llmopt_shpolicy_t   *dir;

    i = prt - (ngx_http_llmopt_policy_rt_t *) lmcf->policies.elts;

    if (i >= lmcf->sh->n_policies) {
        return;
    }

    dir = &lmcf->sh->policies[i];
    from[0] = a;
    from[1] = b;

    ngx_shmtx_lock(&lmcf->shpool->mutex);

    for (k = 0; k < 2; k++) {
        if (from[k] == NULL || dir->attic[k] != NULL) {
            continue;
        }

        len = offsetof(ngx_http_llmopt_block_t, params) + from[k]->size;

        to = ngx_slab_alloc_locked(lmcf->shpool, len);
        if (to == NULL) {
            continue;
        }

        ngx_memcpy(to, from[k], len);

        dir->attic[k] = to;
        prt->attic[k] = to;
    }

    ngx_shmtx_unlock(&lmcf->shpool->mutex);
}


/*
 * Under the zone's mutex: addr goes to the retired list, to be freed two
 * reloads from now.  With the list full (many reloads that change shapes
 * in a row) it is kept for good: a leak, never a free under a reader.
 */

void
ngx_http_llmopt_retire(ngx_http_llmopt_shctx_t *sh, void *addr)
{
    if (sh->n_retired == sizeof(sh->retired) / sizeof(sh->retired[0])) {
        return;
    }

    sh->retired[sh->n_retired].addr = addr;
    sh->retired[sh->n_retired].generation = sh->generation;
    sh->n_retired++;
}



ngx_int_t
ngx_http_llmopt_variants_carry(ngx_slab_pool_t *shpool,
    ngx_http_llmopt_shctx_t *sh, ngx_http_llmopt_stats_t *stats,
    const llmopt_policy_t *policy)
{
    uint64_t                 shape;
    ngx_uint_t               v;
    llmopt_variant_tally_t  *table;

    shape = policy->n_variants;

    for (v = 0; v < policy->n_variants; v++) {
        shape = llmopt_hash64(policy->variants[v].name.data,
                              policy->variants[v].name.len, shape);
    }

    if (stats->variants != NULL && stats->variants_shape == shape) {
        return NGX_OK;
    }

    table = NULL;

    if (policy->n_variants) {
        table = ngx_slab_calloc_locked(shpool, NGX_HTTP_LLMOPT_VARIANTS);
        if (table == NULL) {
            return NGX_ERROR;
        }
    }

    if (stats->variants != NULL) {
        /* the workers of the last cycle may read it a while longer */
        ngx_http_llmopt_retire(sh, stats->variants);
    }

    stats->variants = table;
    stats->variants_shape = shape;

    return NGX_OK;
}
