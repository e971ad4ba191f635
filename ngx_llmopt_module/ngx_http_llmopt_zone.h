
/*
 * Copyright (C) llmopt authors
 *
 * The shared memory zone: its layout (what workers, the trainer and
 * status share), how it is kept across reloads, what it needs.
 */

#ifndef _NGX_HTTP_LLMOPT_ZONE_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_ZONE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "llmopt_seqlock.h"
#include "llmopt_pending.h"
#include "llmopt_canary.h"
#include "llmopt_history.h"
#include "llmopt_cascade.h"


#define NGX_HTTP_LLMOPT_ZONE_MAGIC    0x6c6c6d6fU      /* "llmo" */
#define NGX_HTTP_LLMOPT_ZONE_VERSION  8       /* layout of the zone */
#define NGX_HTTP_LLMOPT_BLOCK_VERSION 2       /* of learned parameters, in
                                                 shapes and state files */

/* Answers of the feedback endpoint, counted in the zone. */
#define NGX_HTTP_LLMOPT_FB_ACCEPTED     0
#define NGX_HTTP_LLMOPT_FB_MALFORMED    1
#define NGX_HTTP_LLMOPT_FB_FORBIDDEN    2
#define NGX_HTTP_LLMOPT_FB_UNKNOWN      3
#define NGX_HTTP_LLMOPT_FB_DUPLICATE    4
#define NGX_HTTP_LLMOPT_FB_EXPIRED      5
#define NGX_HTTP_LLMOPT_FB_LAST         6


/*
 * A policy's learned parameters in the zone.  Self-contained, so a block
 * survives a reload that keeps the policy's shape: readers in old and new
 * workers and the single writer agree on the seqlock inside it.  Its arm
 * names and layout let a changed policy take over each arm's record that
 * still applies (ngx_http_llmopt_zone.c).
 */

struct ngx_http_llmopt_block_s {
    llmopt_seqlock_t              lock;
    uint64_t                      shape;
    uint64_t                      layout;        /* of one arm's record */
    ngx_uint_t                    n_arms;
    u_char                        arm[LLMOPT_MAX_ARMS]
                                     [LLMOPT_CATALOG_NAME_MAX + 1];
    size_t                        size;          /* of params */
    size_t                        sparse;        /* algorithm sparse: the
                                                    bytes of its table at
                                                    params + size; 0 */
    u_char                        params[1];     /* llmopt_bandit_size() */
};

/* a block's sparse table (llmopt_sparse.h), or NULL */
#define ngx_http_llmopt_block_sparse(b)                                      \
    ((b)->sparse ? (void *) ((b)->params + (b)->size) : NULL)


/*
 * Histogram buckets, upper bounds: response times (latency, time to first
 * token) in ms and decision times in ns; the last bucket is +Inf.
 */
#define NGX_HTTP_LLMOPT_TIME_BUCKETS      14
#define NGX_HTTP_LLMOPT_DECISION_BUCKETS  10




/* What came back from one arm, counted when a response ends. */

typedef struct {
    ngx_atomic_t                  outcomes;
    ngx_atomic_t                  tokens_in;
    ngx_atomic_t                  tokens_out;
    ngx_atomic_t                  tokens_cached;
    ngx_atomic_t                  cost_nusd;     /* USD * 1e9 */
    ngx_atomic_t                  rate_limited;  /* 429 */
    ngx_atomic_t                  server_errors; /* 5xx, none */
    ngx_atomic_t                  other_errors;  /* other non-2xx, error
                                                    objects */
    ngx_atomic_t                  timeouts;
    ngx_atomic_t                  client_gone;   /* 499 */
    ngx_atomic_t                  drained;       /* read to the end after
                                                    the client left */
    ngx_atomic_t                  cost_estimated;      /* outcomes */
    ngx_atomic_t                  cost_estimated_nusd; /* USD * 1e9 */
    ngx_atomic_t                  cache_hits;    /* answered by nginx's
                                                    proxy_cache */
    ngx_atomic_t                  cache_saved_nusd;    /* USD * 1e9 */
    ngx_atomic_t                  latency[NGX_HTTP_LLMOPT_TIME_BUCKETS];
    ngx_atomic_t                  latency_sum_us;
    ngx_atomic_t                  ttft[NGX_HTTP_LLMOPT_TIME_BUCKETS];
    ngx_atomic_t                  ttft_sum_us;

    /* the circuit breaker: closed while open_until_ms is 0, open until
       then, half-open after it (one probe at a time) */
    ngx_atomic_t                  breaker_failures;    /* in a row */
    ngx_atomic_t                  breaker_open_until_ms;
    ngx_atomic_t                  breaker_probe_until_ms;
    ngx_atomic_t                  breaker_opens;
    ngx_atomic_t                  breaker_probes;
    ngx_atomic_t                  breaker_win_epoch[2];  /* half windows */
    ngx_atomic_t                  breaker_win_n[2];      /* answers */
    ngx_atomic_t                  breaker_win_f[2];      /* failures */

    ngx_atomic_t                  drift_alarms[2];     /* reward, latency */

    /* the latency SLO, as the trainer last measured it */
    ngx_atomic_t                  slo_p95_ms;          /* of recent answers */
    ngx_atomic_t                  slo_breach;          /* 1: left out */
} ngx_http_llmopt_arm_stats_t;


/*
 * History: the trainer copies a policy's cumulative counters into three
 * rings of snapshots (llmopt_history.h), every 10 seconds (for the
 * last-minute windows), every minute (the per-minute series of the last
 * 4 hours) and every 10 minutes (the last 24 hours); a point of a series
 * is the difference of two snapshots, so workers pay nothing for it.
 * Readers copy a snapshot and check its sequence number.
 */

#define NGX_HTTP_LLMOPT_FINE_MS                                              \
    (llmopt_history_rings[LLMOPT_HISTORY_FINE].period_ms)


typedef struct {
    uint64_t                      requests;
    uint64_t                      explore;
    uint64_t                      outcomes;
    uint64_t                      errors;        /* 429, 5xx, other,
                                                    timeouts */
    uint64_t                      cost_nusd;
    uint64_t                      latency_n;
    uint64_t                      latency_sum_us;
    uint64_t                      ttft_n;
    uint64_t                      ttft_sum_us;
    double                        rewards;
    double                        reward_sum;
    uint64_t                      breaker_opens;
    uint64_t                      breaker_open;  /* 1: not closed then */
} ngx_http_llmopt_point_t;


typedef struct {
    ngx_atomic_t                  seq;           /* odd while written */
    uint64_t                      time_ms;       /* wall clock, 0: empty */
    uint64_t                      decisions;
    uint64_t                      decision_sum_ns;
    uint64_t                      generation;    /* the zone's reloads */
    uint64_t                      failovers;
    uint64_t                      drops;         /* the ring's, all */
    uint64_t                      lag_ms;        /* the trainer's then */
    ngx_http_llmopt_point_t       arms[1];       /* n_arms */
} ngx_http_llmopt_snap_t;


typedef struct {
    ngx_uint_t                    n_arms;
    size_t                        snap_size;
    ngx_atomic_t                  taken[LLMOPT_HISTORY_RINGS];
                                                 /* snapshots, per ring */
    u_char                        data[1];       /* LLMOPT_HISTORY_SLOTS */
} ngx_http_llmopt_history_t;


/*
 * A policy's budget accounts, under the zone's mutex: the policy's own,
 * and its tenant keys' (llmopt_budget_find).  Allocated once for a
 * policy's name; a reload keeps it.
 */

typedef struct {
    ngx_uint_t                    n;             /* tenant accounts */
    ngx_atomic_t                  refused;       /* 429s at a cap */
    ngx_atomic_t                  pending;       /* 429s, no grant yet */
    ngx_atomic_t                  outage_refused;  /* 429s, Redis away */
    ngx_atomic_t                  limited;       /* cheaper arms only */
    ngx_atomic_t                  no_room;       /* tenant table full */
    ngx_atomic_t                  grants;        /* asked of Redis */
    ngx_atomic_t                  mode;          /* LLMOPT_BUDGET_ALONE.. */
    ngx_atomic_t                  modes;         /* changes of mode */
    ngx_atomic_t                  live;          /* instances, last seen */
    ngx_atomic_t                  reseed_until_ms;   /* no new grants */
    ngx_atomic_t                  lost;          /* records Redis lost */
    llmopt_budget_account_t       policy;
    llmopt_budget_account_t       tenants[1];    /* n */
} ngx_http_llmopt_budget_t;


/* The variant tallies of a policy: rows of every possible arm. */
#define NGX_HTTP_LLMOPT_VARIANTS                                            \
    (LLMOPT_VARIANT_TALLY(LLMOPT_MAX_ARMS) * sizeof(llmopt_variant_tally_t))


/* Counters of a policy in the zone, updated with atomic adds. */

struct ngx_http_llmopt_stats_s {
    ngx_atomic_t                  requests;
    ngx_atomic_t                  passthrough;
    ngx_atomic_t                  fallback;
    ngx_atomic_t                  failovers;     /* second arms tried */
    ngx_atomic_t                  pinned;        /* by the pin header */
    ngx_atomic_t                  explore_until_ms;  /* drift: explore */
    ngx_atomic_t                  arm_shadow[LLMOPT_MAX_ARMS]; /* shadow
                                                    decisions */
    ngx_atomic_t                  rejected[NGX_HTTP_LLMOPT_REJECT_LAST];
    ngx_atomic_t                  arm_requests[LLMOPT_MAX_ARMS];
    ngx_atomic_t                  arm_explore[LLMOPT_MAX_ARMS];
    ngx_atomic_t                  decision[NGX_HTTP_LLMOPT_DECISION_BUCKETS];
    ngx_atomic_t                  decision_sum_ns;
    ngx_http_llmopt_arm_stats_t   arms[LLMOPT_MAX_ARMS];

    /* written by the trainer alone */
    llmopt_arm_tally_t            tally[LLMOPT_MAX_ARMS];
    llmopt_variant_tally_t       *variants;      /* NULL, or with variants
                                                    NGX_HTTP_LLMOPT_VARIANTS
                                                    bytes: per arm, its
                                                    variants' rewards */
    uint64_t                      variants_shape;  /* of their names */
    ngx_http_llmopt_history_t    *history;       /* NULL: zone too small */

    ngx_http_llmopt_budget_t     *budget;        /* NULL: no budget */

    llmopt_canary_t               canary;        /* the trainer's; the state
                                                    file keeps it */

    /* the acceptance models of a cascade's tiers, LLMOPT_CASCADE_MAX_TIERS
       of them (docs/CASCADE.md); NULL: no cascade */
    llmopt_cascade_model_t       *cascade;
};


/* The trainer's lease and counters, in the zone. */

typedef struct {
    ngx_atomic_t                  lease_pid;     /* 0: free */
    ngx_atomic_t                  heartbeat_ms;  /* wall clock */
    ngx_atomic_t                  driver;        /* of the lease holder */
    ngx_atomic_t                  ticks;
    ngx_atomic_t                  events;
    ngx_atomic_t                  updates;
    ngx_atomic_t                  declined;
    ngx_atomic_t                  stale;
    ngx_atomic_t                  expired;       /* finalised at deadline */
    ngx_atomic_t                  takeovers;
    ngx_atomic_t                  checkpoints;
    ngx_atomic_t                  checkpoint_errors;
    ngx_atomic_t                  checkpoint_ms;
    ngx_atomic_t                  restored;
    ngx_atomic_t                  tick_us_max;
    ngx_atomic_t                  lag_ms;        /* longest wait, last tick */
    ngx_atomic_t                  rate_ms;       /* rates measured then */
    ngx_atomic_t                  rate_updates;  /* updates then */
    ngx_atomic_t                  rate_events;
    ngx_atomic_t                  updates_per_ks; /* per 1000 s */
    ngx_atomic_t                  events_per_ks;
} ngx_http_llmopt_shtrainer_t;


/* Redis, as the trainer last saw it, in the zone for status. */

#define NGX_HTTP_LLMOPT_REDIS_OFF      0
#define NGX_HTTP_LLMOPT_REDIS_UP       1
#define NGX_HTTP_LLMOPT_REDIS_DOWN     2

typedef struct {
    ngx_atomic_t                  state;
    ngx_atomic_t                  syncs;         /* complete exchanges */
    ngx_atomic_t                  errors;
    ngx_atomic_t                  last_ok_ms;
    ngx_atomic_t                  instances;     /* seen, this one too */
    ngx_atomic_t                  restored;      /* policies taken back */
    ngx_atomic_t                  restore_done;  /* own keys were read */
    ngx_atomic_t                  stream_added;
    ngx_atomic_t                  stream_dropped;
    ngx_atomic_t                  stream_unconfirmed; /* sent, no answer */
    ngx_atomic_t                  redirects;     /* cluster MOVED, ASK */
    ngx_atomic_t                  next_try_ms;   /* down: the next try */
    u_char                        last_error[128];
} ngx_http_llmopt_shredis_t;


/* The zone's directory of policies, used only by the master at init. */

typedef struct {
    u_char                        name[64];
    size_t                        name_len;
    ngx_http_llmopt_block_t      *block;
    ngx_http_llmopt_block_t      *local;         /* llmopt_redis: learned
                                                    here, not merged */
    ngx_http_llmopt_block_t      *others;        /* llmopt_redis: the other
                                                    instances, merged */
    ngx_http_llmopt_stats_t      *stats;
    ngx_http_llmopt_block_t      *attic[2];      /* the blocks the last two
                                                    changes of arms left,
                                                    newest first: a removed
                                                    arm's record waits here
                                                    to be put back */
} ngx_http_llmopt_shpolicy_t;


/*
 * A zone allocation the new configuration dropped while workers of the
 * old one may still read or write it: freed two reloads later.
 */

typedef struct {
    void                         *addr;
    ngx_uint_t                    generation;    /* when it was dropped */
} ngx_http_llmopt_retired_t;


struct ngx_http_llmopt_shctx_s {
    uint32_t                      magic;
    uint32_t                      version;
    ngx_uint_t                    generation;    /* reloads seen */
    ngx_uint_t                    n_policies;
    ngx_http_llmopt_shpolicy_t   *policies;
    ngx_uint_t                    n_retired;
    ngx_http_llmopt_retired_t     retired[64];

    llmopt_ring_t                *ring;          /* outcome events */
    llmopt_pending_t             *pending;       /* under shpool->mutex */
    ngx_uint_t                    state_checked; /* state file read */
    ngx_http_llmopt_shtrainer_t   trainer;
    ngx_atomic_t                  feedback[NGX_HTTP_LLMOPT_FB_LAST];
    ngx_http_llmopt_shredis_t     redis;
};


/*
 * Sets prt->shape (what must match for a policy's whole block to be kept)
 * and prt->layout (what must match for one arm's record to be kept) from
 * prt->policy.
 */
void ngx_http_llmopt_zone_shape(ngx_http_llmopt_policy_rt_t *prt);

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

/*
 * A block for prt's arms, zeroed but for its header, with a sparse
 * policy's table after its parameters when sparse is 1 (the block readers
 * use, and this instance's own part with llmopt_redis; the fleet's copy
 * has none); NULL: no room.
 */
ngx_http_llmopt_block_t *ngx_http_llmopt_new_block(ngx_slab_pool_t *shpool,
    ngx_http_llmopt_policy_rt_t *prt, ngx_uint_t sparse);

/*
 * Under the zone's mutex: the counters of policy prt whose arms changed
 * since old, each arm's at its new index (old's retired), or old's own
 * when no arm moved.
 */
ngx_int_t ngx_http_llmopt_remap_stats(ngx_slab_pool_t *shpool,
    ngx_http_llmopt_shctx_t *sh, ngx_http_llmopt_shpolicy_t *old,
    ngx_http_llmopt_policy_rt_t *prt, ngx_http_llmopt_stats_t **stats);

/*
 * Under the zone's mutex: the variant learner's tallies of a policy with
 * variants, made (zeroed) when it has none yet or when its variants (their
 * names, in order) differ from those they were learned for; a policy
 * without variants has none (the old table is retired).  NGX_ERROR when
 * the zone is full.
 */
ngx_int_t ngx_http_llmopt_variants_carry(ngx_slab_pool_t *shpool,
    ngx_http_llmopt_shctx_t *sh, ngx_http_llmopt_stats_t *stats,
    const llmopt_policy_t *policy);

/* Under the zone's mutex: a policy the new catalog dropped is retired. */
void ngx_http_llmopt_drop_policy(ngx_http_llmopt_shctx_t *sh,
    ngx_http_llmopt_shpolicy_t *old, ngx_log_t *log);

/* Under the zone's mutex: addr is freed two reloads from now. */
void ngx_http_llmopt_retire(ngx_http_llmopt_shctx_t *sh, void *addr);


#endif /* _NGX_HTTP_LLMOPT_ZONE_H_INCLUDED_ */
