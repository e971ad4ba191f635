
/*
 * Copyright (C) llmopt authors
 *
 * The sparse learner's glue (ngx_http_llmopt_sparse.c).
 */


#ifndef _NGX_HTTP_LLMOPT_SPARSE_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_SPARSE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "llmopt_snapshot.h"


/*
 * The choice of a sparse policy (prt->policy->sparse_on) for req: its text
 * features, then llmopt_sparse_select() straight from the table in the
 * zone, without a lock; what the trainer will need goes to ctx->sparse.
 * LLMOPT_OK or LLMOPT_DECLINED, as llmopt_decide's select.
 */
int ngx_http_llmopt_sparse_select(ngx_http_llmopt_ctx_t *ctx,
    const llmopt_request_t *req, const double *x,
    const unsigned char *allowed, llmopt_rng_t *rng,
    llmopt_choice_t *choice);

/*
 * The carry of ctx->arm when the sparse learner did not choose it (a pin,
 * a probe, a canary, shadow's fallback, the fallback arm): the served arm
 * teaches the table all the same.
 */
void ngx_http_llmopt_sparse_served(ngx_http_llmopt_ctx_t *ctx,
    const llmopt_request_t *req, llmopt_rng_t *rng);

/*
 * The state file: an entry "sparse:<policy>" of each sparse policy, its
 * table read in place (the trainer, its writer, runs the checkpoint),
 * and with llmopt_redis "sparse-local:<policy>", this instance's own part
 * of it.  Each entry owns its name (ngx_free()).  Returns the entries
 * made in e (at most 2 a policy).
 */
ngx_uint_t ngx_http_llmopt_sparse_entries(ngx_http_llmopt_main_conf_t *lmcf,
    llmopt_snapshot_entry_t *e, ngx_log_t *log);

/*
 * At start: each sparse policy's table back from its entry of its shape,
 * and with llmopt_redis its own part from its "sparse-local:" entry (none:
 * the whole table, learned alone).
 */
void ngx_http_llmopt_sparse_restore(ngx_http_llmopt_main_conf_t *lmcf,
    const llmopt_snapshot_entry_t *e, unsigned ne, ngx_log_t *log);


#endif /* _NGX_HTTP_LLMOPT_SPARSE_H_INCLUDED_ */
