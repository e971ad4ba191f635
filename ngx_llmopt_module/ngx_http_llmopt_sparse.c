
/*
 * Copyright (C) llmopt authors
 *
 * The sparse learner in nginx: the choice from the policy's table in the
 * zone (no lock: llmopt_sparse.h says why none is needed), and the
 * table's entry in the state file.  The trainer learns it in place
 * (llmopt_trainer_learn); reloads keep it with the policy's block.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_sparse.h"


#define NGX_HTTP_LLMOPT_SPARSE_KIND  "sparse:"
#define NGX_HTTP_LLMOPT_SPARSE_LOCAL "sparse-local:"


static const llmopt_snapshot_entry_t *ngx_http_llmopt_sparse_find(
    ngx_http_llmopt_policy_rt_t *prt, const char *kind,
    const llmopt_snapshot_entry_t *e, unsigned ne);


/* about 12 KB: a worker decides one request at a time */
static llmopt_sparse_features_t  ngx_http_llmopt_sparse_f;


int
ngx_http_llmopt_sparse_select(ngx_http_llmopt_ctx_t *ctx,
    const llmopt_request_t *req, const double *x,
    const unsigned char *allowed, llmopt_rng_t *rng, llmopt_choice_t *choice)
{
    void                         *table;
    const llmopt_policy_t        *policy;
    ngx_http_llmopt_policy_rt_t  *prt;

    prt = ctx->policy;
    policy = prt->policy;
    table = ngx_http_llmopt_block_sparse(prt->block);

    if (table == NULL
        || llmopt_sparse_check(&policy->sparse, table) != LLMOPT_OK)
    {
        return LLMOPT_DECLINED;
    }

    llmopt_sparse_features(&policy->sparse, req->body + req->prompt.start,
                           req->prompt.end - req->prompt.start,
                           req->body + req->system.start,
                           req->system.end - req->system.start, x,
                           &ngx_http_llmopt_sparse_f);

    return llmopt_sparse_select(&policy->sparse, table,
                                &ngx_http_llmopt_sparse_f, x, allowed, rng,
                                choice, &ctx->sparse);
}


void
ngx_http_llmopt_sparse_served(ngx_http_llmopt_ctx_t *ctx,
    const llmopt_request_t *req, llmopt_rng_t *rng)
{
    void                         *table;
    double                        score[LLMOPT_MAX_ARMS];
    const llmopt_policy_t        *policy;
    ngx_http_llmopt_policy_rt_t  *prt;

    prt = ctx->policy;
    policy = prt->policy;
    table = ngx_http_llmopt_block_sparse(prt->block);

    ngx_memzero(&ctx->sparse, sizeof(llmopt_sparse_carry_t));

    if (table == NULL || ctx->arm >= policy->n_arms
        || llmopt_sparse_check(&policy->sparse, table) != LLMOPT_OK)
    {
        return;
    }

    llmopt_sparse_features(&policy->sparse, req->body + req->prompt.start,
                           req->prompt.end - req->prompt.start,
                           req->body + req->system.start,
                           req->system.end - req->system.start, ctx->x,
                           &ngx_http_llmopt_sparse_f);

    llmopt_sparse_scores(&policy->sparse, table, &ngx_http_llmopt_sparse_f,
                         ctx->x, score);

    llmopt_sparse_carry(&ngx_http_llmopt_sparse_f, score[ctx->arm], rng,
                        &ctx->sparse);
}


ngx_uint_t
ngx_http_llmopt_sparse_entries(ngx_http_llmopt_main_conf_t *lmcf,
    llmopt_snapshot_entry_t *e, ngx_log_t *log)
{
    u_char                       *name;
    ngx_uint_t                    i, n;
    ngx_http_llmopt_policy_rt_t  *prt;

    prt = lmcf->policies.elts;
    n = 0;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        if (!prt[i].policy->sparse_on || prt[i].block->sparse == 0) {
            continue;
        }

        name = ngx_alloc(sizeof(NGX_HTTP_LLMOPT_SPARSE_KIND) + prt[i].name.len,
                         log);
        if (name == NULL) {
            continue;
        }

        e[n].name = (const char *) name;
        e[n].name_len = ngx_sprintf(name, NGX_HTTP_LLMOPT_SPARSE_KIND "%V",
                                    &prt[i].name)
                        - name;
        e[n].shape = prt[i].shape;
        e[n].params = ngx_http_llmopt_block_sparse(prt[i].block);
        e[n].size = prt[i].block->sparse;
        n++;

        /* llmopt_redis: this instance's own part, what it shares */

        if (prt[i].local == NULL || prt[i].local->sparse == 0) {
            continue;
        }

        name = ngx_alloc(sizeof(NGX_HTTP_LLMOPT_SPARSE_LOCAL)
                         + prt[i].name.len, log);
        if (name == NULL) {
            continue;
        }

        e[n].name = (const char *) name;
        e[n].name_len = ngx_sprintf(name, NGX_HTTP_LLMOPT_SPARSE_LOCAL "%V",
                                    &prt[i].name)
                        - name;
        e[n].shape = prt[i].shape;
        e[n].params = ngx_http_llmopt_block_sparse(prt[i].local);
        e[n].size = prt[i].local->sparse;
        n++;
    }

    return n;
}


void
ngx_http_llmopt_sparse_restore(ngx_http_llmopt_main_conf_t *lmcf,
    const llmopt_snapshot_entry_t *e, unsigned ne, ngx_log_t *log)
{
    void                           *table, *local;
    ngx_uint_t                      i;
    const llmopt_snapshot_entry_t  *found, *own;
    ngx_http_llmopt_policy_rt_t    *prt;

    prt = lmcf->policies.elts;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        if (!prt[i].policy->sparse_on || prt[i].block->sparse == 0) {
            continue;
        }

        found = ngx_http_llmopt_sparse_find(&prt[i],
                                            NGX_HTTP_LLMOPT_SPARSE_KIND, e,
                                            ne);
        table = ngx_http_llmopt_block_sparse(prt[i].block);

        if (found == NULL || table == NULL) {
            if (ngx_http_llmopt_sparse_find(&prt[i], NULL, e, ne) != NULL) {
                ngx_log_error(NGX_LOG_NOTICE, log, 0,
                              "llmopt_state_file \"%V\": the sparse "
                              "weights of policy \"%V\" are of another "
                              "shape; they start anew", &lmcf->state_file,
                              &prt[i].name);
            }

            continue;
        }

        /* no reader yet: the zone is new */
        ngx_memcpy(table, found->params, found->size);

        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "llmopt_state_file \"%V\": policy \"%V\" has its "
                      "sparse weights back (%uL updates)", &lmcf->state_file,
                      &prt[i].name, llmopt_sparse_updates(found->params));

        /* llmopt_redis: this instance's part, or all of it when the file
           has none (it learned alone) */

        local = prt[i].local ? ngx_http_llmopt_block_sparse(prt[i].local)
                             : NULL;

        if (local == NULL) {
            continue;
        }

        own = ngx_http_llmopt_sparse_find(&prt[i],
                                          NGX_HTTP_LLMOPT_SPARSE_LOCAL, e,
                                          ne);
        ngx_memcpy(local, own ? own->params : found->params, found->size);
    }
}


/*
 * The valid entry kind<policy> of e (kind NULL: "sparse:", valid or
 * not), or NULL.
 */

static const llmopt_snapshot_entry_t *
ngx_http_llmopt_sparse_find(ngx_http_llmopt_policy_rt_t *prt,
    const char *kind, const llmopt_snapshot_entry_t *e, unsigned ne)
{
    u_char                          name[sizeof(NGX_HTTP_LLMOPT_SPARSE_LOCAL)
                                         + LLMOPT_CATALOG_NAME_MAX];
    size_t                          len;
    const llmopt_snapshot_entry_t  *found;

    len = ngx_snprintf(name, sizeof(name), "%s%V",
                       kind ? kind : NGX_HTTP_LLMOPT_SPARSE_KIND, &prt->name)
          - name;
    found = llmopt_snapshot_find(e, ne, (const char *) name, len);

    if (kind == NULL || found == NULL) {
        return found;
    }

    if (found->shape != prt->shape || found->size != prt->block->sparse
        || llmopt_sparse_check(&prt->policy->sparse, found->params)
           != LLMOPT_OK)
    {
        return NULL;
    }

    return found;
}
