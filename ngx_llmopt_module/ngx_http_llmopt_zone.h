
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
void ngx_http_llmopt_zone_shape(const llmopt_catalog_t *cat,
    ngx_http_llmopt_policy_rt_t *prt);

/*
 * The bytes a zone of lmcf's catalog and events/pending settings needs at
 * start, and what leaves room for reloads that change every policy's arms
 * (old blocks wait for old workers; removed arms wait in the attic).
 */
void ngx_http_llmopt_zone_need(ngx_http_llmopt_main_conf_t *lmcf,
    size_t *need, size_t *roomy);

ngx_int_t ngx_http_llmopt_init_zone(ngx_shm_zone_t *shm_zone, void *data);

/* Under the zone's mutex: addr is freed two reloads from now. */
void ngx_http_llmopt_retire(ngx_http_llmopt_shctx_t *sh, void *addr);


#endif /* _NGX_HTTP_LLMOPT_ZONE_H_INCLUDED_ */
