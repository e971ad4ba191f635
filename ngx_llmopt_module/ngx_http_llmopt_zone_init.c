
/*
 * Copyright (C) llmopt authors
 *
 * The zone made and attached, at start and at each reload: its directory
 * of policies, each policy's block, counters, history, budgets and canary
 * (kept, carried or new: ngx_http_llmopt_zone.c), the ring and the pending
 * table, the state file read back into a new zone; and the size a zone
 * needs for a catalog.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_budget.h"
#include "ngx_http_llmopt_canary.h"
#include "ngx_http_llmopt_history.h"
#include "ngx_http_llmopt_state.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_zone_init.h"


static size_t ngx_http_llmopt_slab_bytes(size_t size);
static ngx_uint_t ngx_http_llmopt_auto_events(size_t zone);
static ngx_uint_t ngx_http_llmopt_auto_pending(size_t zone);
static ngx_int_t ngx_http_llmopt_init_events(ngx_shm_zone_t *shm_zone,
    ngx_http_llmopt_main_conf_t *lmcf, ngx_slab_pool_t *shpool,
    ngx_http_llmopt_shctx_t *sh);


/*
 * Zone layout: a directory of policies by name, each with its parameter
 * block, counters and attic.  On reload the zone is kept; a policy whose
 * shape is unchanged keeps its block and counters; a policy whose arms,
 * features or algorithm changed gets a new block that keeps what still
 * applies of each arm (ngx_http_llmopt_zone_carry()).  What the new
 * configuration drops — a replaced block, a removed policy — is retired
 * and freed two reloads later, once the workers of the configuration that
 * used it are gone.
 */

ngx_int_t
ngx_http_llmopt_init_zone(ngx_shm_zone_t *shm_zone, void *data)
{
    ngx_http_llmopt_main_conf_t  *olmcf = data;

    size_t                        len;
    ngx_uint_t                    i, j, n;
    ngx_slab_pool_t              *shpool;
    ngx_http_llmopt_shctx_t      *sh;
    ngx_http_llmopt_block_t      *block, *from[3];
    ngx_http_llmopt_shpolicy_t   *old, *dir;
    ngx_http_llmopt_policy_rt_t  *prt;
    ngx_http_llmopt_main_conf_t  *lmcf;

    lmcf = shm_zone->data;
    shpool = (ngx_slab_pool_t *) shm_zone->shm.addr;

    if (olmcf != NULL) {
        sh = olmcf->sh;

    } else if (shm_zone->shm.exists) {
        sh = shpool->data;

    } else {
        sh = NULL;
    }

    if (sh != NULL && (sh->magic != NGX_HTTP_LLMOPT_ZONE_MAGIC
                       || sh->version != NGX_HTTP_LLMOPT_ZONE_VERSION))
    {
        ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                      "llmopt zone \"%V\" was made by another version",
                      &shm_zone->shm.name);
        return NGX_ERROR;
    }

    ngx_shmtx_lock(&shpool->mutex);

    /* a zone too small is said once, below, with what to do */
    shpool->log_nomem = 0;

    if (sh == NULL) {
        sh = ngx_slab_calloc_locked(shpool, sizeof(ngx_http_llmopt_shctx_t));
        if (sh == NULL) {
            goto nomem;
        }

        sh->magic = NGX_HTTP_LLMOPT_ZONE_MAGIC;
        sh->version = NGX_HTTP_LLMOPT_ZONE_VERSION;
        shpool->data = sh;

        len = sizeof(" in llmopt zone \"\"") + shm_zone->shm.name.len;

        shpool->log_ctx = ngx_slab_alloc_locked(shpool, len);
        if (shpool->log_ctx == NULL) {
            goto nomem;
        }

        ngx_sprintf(shpool->log_ctx, " in llmopt zone \"%V\"%Z",
                    &shm_zone->shm.name);
    }

    sh->generation++;

    /* free blocks retired two generations ago */

    for (i = 0, j = 0; i < sh->n_retired; i++) {
        if (sh->retired[i].generation + 2 <= sh->generation) {
            ngx_slab_free_locked(shpool, sh->retired[i].addr);
            continue;
        }

        sh->retired[j++] = sh->retired[i];
    }

    sh->n_retired = j;

    n = lmcf->policies.nelts;
    prt = lmcf->policies.elts;

    dir = NULL;

    if (n) {
        dir = ngx_slab_calloc_locked(shpool,
                                     n * sizeof(ngx_http_llmopt_shpolicy_t));
        if (dir == NULL) {
            goto nomem;
        }
    }

    old = sh->policies;

    for (i = 0; i < n; i++) {

        for (j = 0; j < sh->n_policies; j++) {
            if (old[j].block != NULL
                && old[j].name_len == prt[i].name.len
                && ngx_strncmp(old[j].name, prt[i].name.data,
                               prt[i].name.len) == 0)
            {
                break;
            }
        }

        if (j < sh->n_policies && old[j].block->shape == prt[i].shape) {
            dir[i] = old[j];
            old[j].block = NULL;

        } else if (j < sh->n_policies) {
            block = ngx_http_llmopt_new_block(shpool, &prt[i], 1);
            if (block == NULL) {
                goto nomem;
            }

            from[0] = old[j].block;
            from[1] = old[j].attic[0];
            from[2] = old[j].attic[1];

            ngx_http_llmopt_zone_carry(block, &prt[i], from,
                                       shm_zone->shm.log);

            /* counters are kept: they describe traffic, not the model */

            if (ngx_http_llmopt_remap_stats(shpool, sh, &old[j], &prt[i],
                                            &dir[i].stats)
                != NGX_OK)
            {
                goto nomem;
            }

            if (old[j].attic[1] != NULL) {
                ngx_http_llmopt_retire(sh, old[j].attic[1]);
            }

            dir[i].attic[1] = old[j].attic[0];
            dir[i].attic[0] = old[j].block;
            dir[i].block = block;

            /* this instance's part and the fleet's are made again below:
               the fleet's is under another shape in Redis now */

            if (old[j].local != NULL) {
                ngx_http_llmopt_retire(sh, old[j].local);
            }

            if (old[j].others != NULL) {
                ngx_http_llmopt_retire(sh, old[j].others);
            }

            old[j].block = NULL;

        } else {
            block = ngx_http_llmopt_new_block(shpool, &prt[i], 1);
            if (block == NULL) {
                goto nomem;
            }

            dir[i].block = block;

            dir[i].stats = ngx_slab_calloc_locked(shpool,
                                            sizeof(ngx_http_llmopt_stats_t));
            if (dir[i].stats == NULL) {
                goto nomem;
            }
        }

        if (ngx_http_llmopt_variants_carry(shpool, sh, dir[i].stats,
                                           prt[i].policy)
            != NGX_OK)
        {
            goto nomem;
        }

        if (lmcf->redis != NULL && dir[i].local == NULL) {
            /* what this instance learned: all of the model so far (a
               sparse table too, whose steps are shared as they are) */
            dir[i].local = ngx_http_llmopt_new_block(shpool, &prt[i], 1);
            if (dir[i].local == NULL) {
                goto nomem;
            }

            ngx_memcpy(dir[i].local->params, dir[i].block->params,
                       dir[i].block->size);

            if (dir[i].local->sparse
                && dir[i].block->sparse == dir[i].local->sparse)
            {
                ngx_memcpy(dir[i].local->params + dir[i].local->size,
                           dir[i].block->params + dir[i].block->size,
                           dir[i].local->sparse);
            }
        }

        if (lmcf->redis != NULL && dir[i].others == NULL) {
            /* the fleet's part, kept here so that a new trainer (reload,
               respawn) serves the merged model while Redis is away */
            dir[i].others = ngx_http_llmopt_new_block(shpool, &prt[i], 0);
            if (dir[i].others == NULL) {
                goto nomem;
            }
        }

        if (ngx_http_llmopt_history_init(shpool, sh, dir[i].stats,
                                         prt[i].n_arms)
            != NGX_OK)
        {
            ngx_log_error(NGX_LOG_WARN, shm_zone->shm.log, 0,
                          "llmopt zone \"%V\" has no room for the history "
                          "of policy \"%V\": its status has no series",
                          &shm_zone->shm.name, &prt[i].name);
        }

        if (prt[i].policy->cascade.n_tiers && dir[i].stats->cascade == NULL) {
            /* kept with the counters across reloads, like a budget */
            dir[i].stats->cascade = ngx_slab_calloc_locked(shpool,
                                        LLMOPT_CASCADE_MAX_TIERS
                                        * sizeof(llmopt_cascade_model_t));
            if (dir[i].stats->cascade == NULL) {
                goto nomem;
            }
        }

        if (ngx_http_llmopt_budget_init(shpool, dir[i].stats, &prt[i],
                                        shm_zone->shm.log)
            != NGX_OK)
        {
            goto nomem;
        }

        ngx_http_llmopt_canary_init(dir[i].stats, &prt[i]);

        len = ngx_min(prt[i].name.len, sizeof(dir[i].name));
        ngx_memcpy(dir[i].name, prt[i].name.data, len);
        dir[i].name_len = len;

        prt[i].block = dir[i].block;
        prt[i].local = dir[i].local;
        prt[i].others = dir[i].others;
        prt[i].stats = dir[i].stats;
        prt[i].attic[0] = dir[i].attic[0];
        prt[i].attic[1] = dir[i].attic[1];
    }

    /* the policies the new configuration does not have */

    for (j = 0; j < sh->n_policies; j++) {
        if (old[j].block != NULL) {
            ngx_http_llmopt_drop_policy(sh, &old[j], shm_zone->shm.log);
        }
    }

    if (old != NULL) {
        ngx_slab_free_locked(shpool, old);
    }

    sh->policies = dir;
    sh->n_policies = n;

    if (ngx_http_llmopt_init_events(shm_zone, lmcf, shpool, sh) != NGX_OK) {
        goto nomem;
    }

    shpool->log_nomem = 1;
    ngx_shmtx_unlock(&shpool->mutex);

    lmcf->sh = sh;
    lmcf->shpool = shpool;

    if (!sh->state_checked) {
        /* a new zone: learned state comes back from the state file */
        sh->state_checked = 1;
        (void) ngx_http_llmopt_state_restore(shm_zone->shm.log, lmcf);
    }

    return NGX_OK;

nomem:

    shpool->log_nomem = 1;
    ngx_shmtx_unlock(&shpool->mutex);

    ngx_log_error(NGX_LOG_EMERG, shm_zone->shm.log, 0,
                  "llmopt zone \"%V\" is too small for the catalog and "
                  "what it keeps of the last two: \"nginx -t\" names a "
                  "size that leaves room for reloads",
                  &shm_zone->shm.name);

    return NGX_ERROR;
}


/*
 * The event ring and the pending-feedback table, made once per zone: a
 * reload keeps them (old workers still push into them), so new "events="
 * and "pending=" sizes take effect at the next start.  Without sizes,
 * each takes about a quarter of the zone.
 */

static ngx_int_t
ngx_http_llmopt_init_events(ngx_shm_zone_t *shm_zone,
    ngx_http_llmopt_main_conf_t *lmcf, ngx_slab_pool_t *shpool,
    ngx_http_llmopt_shctx_t *sh)
{
    void        *p;
    uint64_t     seed;
    ngx_uint_t   events, pending;

    events = lmcf->events;

    if (events == 0) {
        events = ngx_http_llmopt_auto_events(shm_zone->shm.size);
    }

    pending = lmcf->pending;

    if (pending == 0) {
        pending = ngx_http_llmopt_auto_pending(shm_zone->shm.size);
    }

    if (sh->ring == NULL) {
        p = ngx_slab_alloc_locked(shpool, llmopt_ring_size(events));
        if (p == NULL || llmopt_ring_init(p, events) != LLMOPT_OK) {
            return NGX_ERROR;
        }

        sh->ring = p;

    } else if (lmcf->events && sh->ring->capacity != events) {
        ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                      "llmopt zone \"%V\" keeps its ring of %ui events "
                      "until restart", &shm_zone->shm.name,
                      (ngx_uint_t) sh->ring->capacity);
    }

    if (sh->pending == NULL) {
        p = ngx_slab_alloc_locked(shpool, llmopt_pending_size(pending));

        seed = ((uint64_t) ngx_random() << 32) ^ (uint64_t) ngx_random()
               ^ (uint64_t) ngx_time() ^ ((uint64_t) ngx_pid << 16);

        if (p == NULL || llmopt_pending_init(p, pending, seed) != LLMOPT_OK) {
            return NGX_ERROR;
        }

        sh->pending = p;

    } else if (lmcf->pending && sh->pending->capacity != pending) {
        ngx_log_error(NGX_LOG_NOTICE, shm_zone->shm.log, 0,
                      "llmopt zone \"%V\" keeps its pending table of %ui "
                      "slots until restart", &shm_zone->shm.name,
                      (ngx_uint_t) sh->pending->capacity);
    }

    return NGX_OK;
}


/* the ring without "events=": the largest that takes a quarter at most */

static ngx_uint_t
ngx_http_llmopt_auto_events(size_t zone)
{
    ngx_uint_t  events;

    for (events = 64;
         events * 2 <= LLMOPT_RING_MAX
         && llmopt_ring_size(events * 2) <= zone / 4;
         events *= 2)
    { /* void */ }

    return events;
}


/* the pending table without "pending=": about a quarter */

static ngx_uint_t
ngx_http_llmopt_auto_pending(size_t zone)
{
    ngx_uint_t  pending;

    pending = zone / 4 / (llmopt_pending_size(1024) / 1024 + 1);
    pending = ngx_max(pending, 64);
    pending = ngx_min(pending, LLMOPT_PENDING_MAX);

    return pending;
}


/* what an allocation of size takes of a slab pool's pages */

static size_t
ngx_http_llmopt_slab_bytes(size_t size)
{
    size_t  s;

    if (size > ngx_pagesize / 2) {
        return ngx_align(size, ngx_pagesize);
    }

    for (s = 8; s < size; s <<= 1) { /* void */ }

    return s;
}


/*
 * What init_zone() allocates at start, counted as the slab allocator
 * rounds it, plus the pool's own pages and page descriptors: the
 * smallest size at which it all fits, found by bisection since the ring
 * and pending table grow with the zone.  Each size class may leave one
 * page partly used.  "roomy" counts each policy's blocks and counters
 * three times more: the blocks a reload makes anew while old workers
 * still use theirs, and the attic.
 */

void
ngx_http_llmopt_zone_need(ngx_http_llmopt_main_conf_t *lmcf, size_t *need,
    size_t *roomy)
{
    size_t                        fixed, per, lo, hi, mid, zone, pages;
    size_t                        want[2], head;
    ngx_uint_t                    i, k, copies, events, pending;
    ngx_http_llmopt_policy_rt_t  *prt;

    copies = lmcf->redis != NULL ? 3 : 1;

    fixed = ngx_http_llmopt_slab_bytes(sizeof(ngx_http_llmopt_shctx_t))
            + ngx_http_llmopt_slab_bytes(
                  lmcf->policies.nelts * sizeof(ngx_http_llmopt_shpolicy_t))
            + 64 + 10 * ngx_pagesize;

    per = 0;
    prt = lmcf->policies.elts;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        /* the readers' block, a sparse table after it; the Redis copies */
        per += ngx_http_llmopt_slab_bytes(
                   offsetof(ngx_http_llmopt_block_t, params)
                   + llmopt_bandit_size(&prt[i].policy->bandit)
                   + ngx_http_llmopt_sparse_bytes(prt[i].policy));
        per += (copies - 1) * ngx_http_llmopt_slab_bytes(
                                  offsetof(ngx_http_llmopt_block_t, params)
                                  + llmopt_bandit_size(
                                        &prt[i].policy->bandit));

        if (copies > 1) {
            /* this instance's own part of a sparse table, beside it */
            per += ngx_http_llmopt_sparse_bytes(prt[i].policy);
        }
        per += ngx_http_llmopt_slab_bytes(sizeof(ngx_http_llmopt_stats_t));

        if (prt[i].policy->n_variants) {
            per += ngx_http_llmopt_slab_bytes(NGX_HTTP_LLMOPT_VARIANTS);
        }
        per += ngx_http_llmopt_slab_bytes(
                   offsetof(ngx_http_llmopt_history_t, data)
                   + LLMOPT_HISTORY_SLOTS
                     * ngx_http_llmopt_snap_size(prt[i].n_arms));

        if (prt[i].policy->cascade.n_tiers) {
            per += ngx_http_llmopt_slab_bytes(LLMOPT_CASCADE_MAX_TIERS
                                            * sizeof(llmopt_cascade_model_t));
        }

        if (prt[i].policy->budgeted) {
            per += ngx_http_llmopt_slab_bytes(
                       sizeof(ngx_http_llmopt_budget_t)
                       + (prt[i].policy->budget.tenants - 1)
                         * sizeof(llmopt_budget_account_t));
        }
    }

    want[0] = fixed + per;
    want[1] = fixed + 4 * per;

    head = sizeof(ngx_slab_pool_t) + 16 * sizeof(ngx_slab_page_t)
           + 4 * sizeof(ngx_slab_stat_t) + ngx_pagesize;

    for (k = 0; k < 2; k++) {
        lo = 8 * ngx_pagesize;
        hi = (size_t) 1 << 40;

        while (lo < hi) {
            mid = lo + (hi - lo) / 2;
            zone = mid;

            events = lmcf->events ? lmcf->events
                                  : ngx_http_llmopt_auto_events(zone);
            pending = lmcf->pending ? lmcf->pending
                                    : ngx_http_llmopt_auto_pending(zone);

            pages = (zone > head ? zone - head : 0)
                    / (ngx_pagesize + sizeof(ngx_slab_page_t));

            if (pages * ngx_pagesize
                >= want[k]
                   + ngx_http_llmopt_slab_bytes(llmopt_ring_size(events))
                   + ngx_http_llmopt_slab_bytes(
                         llmopt_pending_size(pending)))
            {
                hi = mid;

            } else {
                lo = mid + 1;
            }
        }

        /* in whole kilobytes, as "size=" takes it */
        want[k] = ngx_align(lo, 1024);
    }

    *need = want[0];
    *roomy = want[1];
}
