
/*
 * Copyright (C) llmopt authors
 *
 * The shared memory zone: its layout across reloads, what it needs.
 */

#ifndef _NGX_HTTP_LLMOPT_ZONE_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_ZONE_H_INCLUDED_


/*
 * Sets prt->shape (what must match for a policy's whole block to be kept)
 * and prt->layout (what must match for one arm's record to be kept) from
 * prt->policy.
 */
void ngx_http_llmopt_zone_shape(ngx_http_llmopt_policy_rt_t *prt);

/*
 * The bytes a zone of lmcf's catalog and events/pending settings needs at
 * start, and what leaves room for reloads that change every policy's arms
 * (old blocks wait for old workers; removed arms wait in the attic).
 */
void ngx_http_llmopt_zone_need(ngx_http_llmopt_main_conf_t *lmcf,
    size_t *need, size_t *roomy);

/*
 * Fills the fresh block "to" of prt arm by arm, by name, from the first of
 * from[0 .. 2] (the replaced block, then the attic; each may be NULL) that
 * has the arm in the same layout; logs each arm that starts anew, at
 * [error], with the reason.  "to" must have no reader yet.
 */
void ngx_http_llmopt_zone_carry(ngx_http_llmopt_block_t *to,
    ngx_http_llmopt_policy_rt_t *prt, ngx_http_llmopt_block_t **from,
    ngx_log_t *log);

/* The bytes of policy's sparse table in its block; 0 when not sparse. */
size_t ngx_http_llmopt_sparse_bytes(const llmopt_policy_t *policy);

/* At start: copies of a and b (from the state file) become prt's attic. */
void ngx_http_llmopt_zone_attic(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_policy_rt_t *prt, ngx_http_llmopt_block_t *a,
    ngx_http_llmopt_block_t *b);

ngx_int_t ngx_http_llmopt_init_zone(ngx_shm_zone_t *shm_zone, void *data);

/* Under the zone's mutex: addr is freed two reloads from now. */
void ngx_http_llmopt_retire(ngx_http_llmopt_shctx_t *sh, void *addr);


#endif /* _NGX_HTTP_LLMOPT_ZONE_H_INCLUDED_ */
