
/*
 * Copyright (C) llmopt authors
 *
 * The history of a policy's counters: snapshots the trainer takes every
 * 10 seconds, every minute and every 10 minutes, kept in three rings in
 * the zone (llmopt_history.h).  Windows (the last minute, the last hour)
 * and the series are differences of snapshots; the request path does
 * not take part.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_breaker.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_history.h"


static void ngx_http_llmopt_history_take(ngx_http_llmopt_policy_rt_t *prt,
    ngx_http_llmopt_snap_t *slot, uint64_t now);
static ngx_http_llmopt_snap_t *ngx_http_llmopt_history_slot(
    ngx_http_llmopt_history_t *h, ngx_uint_t ring, uint64_t i);


/* Under the zone's mutex, from init_zone. */

/*
 * The bytes of one snapshot of n_arms arms, as the rings hold it and as
 * a reader must allocate it.
 */

size_t
ngx_http_llmopt_snap_size(ngx_uint_t n_arms)
{
    return ngx_align(offsetof(ngx_http_llmopt_snap_t, arms)
                     + n_arms * sizeof(ngx_http_llmopt_point_t),
                     sizeof(uint64_t));
}


ngx_int_t
ngx_http_llmopt_history_init(ngx_slab_pool_t *shpool,
    ngx_http_llmopt_shctx_t *sh, ngx_http_llmopt_stats_t *stats,
    ngx_uint_t n_arms)
{
    size_t                      snap, size;
    ngx_http_llmopt_history_t  *h;

    h = stats->history;

    if (h != NULL && h->n_arms == n_arms) {
        return NGX_OK;
    }

    if (h != NULL) {
        /*
         * the arms changed: their old series mean nothing now, but the old
         * workers and trainer may still be reading or writing them
         */
        stats->history = NULL;
        ngx_http_llmopt_retire(sh, h);
    }

    snap = ngx_http_llmopt_snap_size(n_arms);

    size = offsetof(ngx_http_llmopt_history_t, data)
           + LLMOPT_HISTORY_SLOTS * snap;

    h = ngx_slab_calloc_locked(shpool, size);
    if (h == NULL) {
        return NGX_ERROR;
    }

    h->n_arms = n_arms;
    h->snap_size = snap;

    stats->history = h;

    return NGX_OK;
}


static ngx_http_llmopt_snap_t *
ngx_http_llmopt_history_slot(ngx_http_llmopt_history_t *h, ngx_uint_t ring,
    uint64_t i)
{
    return (ngx_http_llmopt_snap_t *)
               (h->data + llmopt_history_slot(ring, i) * h->snap_size);
}


/*
 * The trainer, every tick: a snapshot when a boundary of a ring's
 * period (10 seconds, a minute, 10 minutes) has passed since the last
 * one of that ring.
 */

void
ngx_http_llmopt_history_tick(ngx_http_llmopt_main_conf_t *lmcf, uint64_t now)
{
    uint64_t                      n, last;
    ngx_uint_t                    i, ring;
    ngx_http_llmopt_snap_t       *slot;
    ngx_http_llmopt_history_t    *h;
    ngx_http_llmopt_policy_rt_t  *prt;

    prt = lmcf->policies.elts;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        h = prt[i].stats->history;

        if (h == NULL || h->n_arms != prt[i].n_arms) {
            continue;
        }

        for (ring = 0; ring < LLMOPT_HISTORY_RINGS; ring++) {
            n = h->taken[ring];
            last = n ? ngx_http_llmopt_history_slot(h, ring, n - 1)->time_ms
                     : 0;

            if (!llmopt_history_due(ring, n, last, now)) {
                continue;
            }

            slot = ngx_http_llmopt_history_slot(h, ring, n);

            (void) ngx_atomic_fetch_add(&slot->seq, 1);
            ngx_memory_barrier();

            ngx_http_llmopt_history_take(&prt[i], slot, now);

            ngx_memory_barrier();
            (void) ngx_atomic_fetch_add(&slot->seq, 1);

            h->taken[ring] = n + 1;
        }
    }
}


/* The policy's counters now, as a snapshot would hold them. */

ngx_http_llmopt_snap_t *
ngx_http_llmopt_history_live(ngx_http_llmopt_policy_rt_t *prt,
    ngx_http_llmopt_snap_t *snap)
{
    ngx_http_llmopt_history_take(prt, snap, ngx_http_llmopt_wall_ms());

    return snap;
}


static void
ngx_http_llmopt_history_take(ngx_http_llmopt_policy_rt_t *prt,
    ngx_http_llmopt_snap_t *slot, uint64_t now)
{
    ngx_uint_t                    a, k;
    ngx_http_llmopt_point_t      *pt;
    ngx_http_llmopt_stats_t      *st;
    ngx_http_llmopt_shctx_t      *sh;
    ngx_http_llmopt_arm_stats_t  *as;
    ngx_http_llmopt_main_conf_t  *lmcf;

    lmcf = ngx_http_cycle_get_module_main_conf(ngx_cycle,
                                               ngx_http_llmopt_module);
    sh = lmcf->sh;
    st = prt->stats;

    /* what is the same for every policy: reloads, drops, the lag */

    slot->generation = sh->generation;
    slot->drops = sh->ring ? llmopt_ring_drops(sh->ring) : 0;
    slot->lag_ms = sh->trainer.lag_ms;
    slot->failovers = st->failovers;

    slot->time_ms = now;
    slot->decision_sum_ns = st->decision_sum_ns;
    slot->decisions = 0;

    for (k = 0; k < NGX_HTTP_LLMOPT_DECISION_BUCKETS; k++) {
        slot->decisions += st->decision[k];
    }

    for (a = 0; a < prt->n_arms; a++) {
        as = &st->arms[a];
        pt = &slot->arms[a];

        pt->requests = st->arm_requests[a];
        pt->explore = st->arm_explore[a];
        pt->outcomes = as->outcomes;
        pt->errors = as->rate_limited + as->server_errors + as->other_errors
                     + as->timeouts;
        pt->cost_nusd = as->cost_nusd;
        pt->latency_sum_us = as->latency_sum_us;
        pt->ttft_sum_us = as->ttft_sum_us;
        pt->latency_n = 0;
        pt->ttft_n = 0;

        for (k = 0; k < NGX_HTTP_LLMOPT_TIME_BUCKETS; k++) {
            pt->latency_n += as->latency[k];
            pt->ttft_n += as->ttft[k];
        }

        pt->rewards = st->tally[a].rewards;
        pt->reward_sum = st->tally[a].reward_sum;
        pt->breaker_opens = as->breaker_opens;
        pt->breaker_open = ngx_strcmp(ngx_http_llmopt_breaker_state(as, now),
                                      "closed") != 0;
    }
}


/*
 * A copy of the snapshot "back" places before the newest of a ring
 * (LLMOPT_HISTORY_FINE ..; back 0: the newest); NGX_DECLINED when there
 * is none or it was being written.
 */

ngx_int_t
ngx_http_llmopt_history_get(ngx_http_llmopt_policy_rt_t *prt,
    ngx_uint_t ring, ngx_uint_t back, ngx_http_llmopt_snap_t *snap)
{
    uint64_t                    i, seq;
    ngx_http_llmopt_snap_t     *slot;
    ngx_http_llmopt_history_t  *h;

    h = prt->stats->history;

    if (h == NULL || h->n_arms != prt->n_arms) {
        return NGX_DECLINED;
    }

    /* the oldest slot may be being overwritten: one place is kept free */

    if (llmopt_history_back(ring, h->taken[ring], back, &i) != LLMOPT_OK) {
        return NGX_DECLINED;
    }

    slot = ngx_http_llmopt_history_slot(h, ring, i);

    seq = slot->seq;
    ngx_memory_barrier();

    ngx_memcpy(snap, slot, h->snap_size);

    ngx_memory_barrier();

    if ((seq & 1) || seq != slot->seq || snap->time_ms == 0) {
        return NGX_DECLINED;
    }

    return NGX_OK;
}


/*
 * The newest snapshot taken at or before time_ms, from the 10-second ring
 * for the last two minutes, the minute ring for 4 hours and the 10-minute
 * ring before that; else the oldest there is.  NGX_DECLINED when there
 * is no history at all.
 */

ngx_int_t
ngx_http_llmopt_history_before(ngx_http_llmopt_policy_rt_t *prt,
    uint64_t time_ms, ngx_http_llmopt_snap_t *snap)
{
    ngx_int_t   found;
    ngx_uint_t  ring, back, slots;

    found = NGX_DECLINED;

    for (ring = 0; ring < LLMOPT_HISTORY_RINGS; ring++) {
        slots = llmopt_history_rings[ring].slots;

        for (back = 0; back + 1 < slots; back++) {
            if (ngx_http_llmopt_history_get(prt, ring, back, snap)
                != NGX_OK)
            {
                break;
            }

            found = NGX_OK;

            if (snap->time_ms <= time_ms) {
                return NGX_OK;
            }
        }
    }

    if (found == NGX_OK) {
        /* younger than the window: the oldest snapshot of any ring */

        for (ring = LLMOPT_HISTORY_RINGS; ring-- > 0; /* void */) {
            slots = llmopt_history_rings[ring].slots;

            for (back = slots - 1; back-- > 0; /* void */) {
                if (ngx_http_llmopt_history_get(prt, ring, back, snap)
                    == NGX_OK)
                {
                    return NGX_OK;
                }
            }
        }
    }

    return NGX_DECLINED;
}
