/*
 * Copyright (C) llmopt authors
 *
 * A policy's "cache" rule in the catalog (llmopt_catalog_cache.c).
 * Internal to the catalog loader.
 */

#ifndef _LLMOPT_CATALOG_CACHE_H_INCLUDED_
#define _LLMOPT_CATALOG_CACHE_H_INCLUDED_


#include "llmopt_catalog.h"
#include "llmopt_catalog_values.h"


/*
 * cache: {when: always | never | temperature_le, temperature_le: 0.3,
 *         ttl: 10m, shared: false, exclude: [user, metadata]}
 * into policy->cache; absent, nothing is cached.  LLMOPT_OK or
 * LLMOPT_ERROR with ctx->err at the node.
 */
int llmopt_catalog_cache(llmopt_catalog_ctx_t *ctx, llmopt_policy_t *policy,
    const llmopt_catalog_field_t *cache, const char *where);


#endif /* _LLMOPT_CATALOG_CACHE_H_INCLUDED_ */
