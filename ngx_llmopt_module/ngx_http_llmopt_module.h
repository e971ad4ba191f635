
/*
 * Copyright (C) llmopt authors
 *
 * Types shared by the parts of the nginx glue.
 */

#ifndef _NGX_HTTP_LLMOPT_MODULE_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_MODULE_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "llmopt_core.h"
#include "llmopt_catalog.h"
#include "llmopt_request.h"
#include "llmopt_rewrite.h"
#include "llmopt_features.h"
#include "llmopt_bandit.h"
#include "llmopt_rng.h"
#include "llmopt_seqlock.h"
#include "llmopt_ring.h"
#include "llmopt_pending.h"
#include "llmopt_usage.h"
#include "llmopt_reward.h"
#include "llmopt_trainer.h"
#include "llmopt_feedback.h"
#include "llmopt_guard.h"
#include "llmopt_drift.h"
#include "llmopt_stats.h"
#include "llmopt_budget.h"
#include "llmopt_canary.h"
#include "llmopt_history.h"

#include "ngx_http_llmopt_status.h"


#define NGX_HTTP_LLMOPT_VERSION       "0.1.0"

#define NGX_HTTP_LLMOPT_ZONE_MAGIC    0x6c6c6d6fU      /* "llmo" */
#define NGX_HTTP_LLMOPT_ZONE_VERSION  7       /* layout of the zone */
#define NGX_HTTP_LLMOPT_BLOCK_VERSION 2       /* of learned parameters, in
                                                 shapes and state files */

#define NGX_HTTP_LLMOPT_MAX_BODY      (1024 * 1024)
#define NGX_HTTP_LLMOPT_MAX_DEPTH     64
#define NGX_HTTP_LLMOPT_MAX_TOKENS    (1024 * 1024)

/* Kinds of traffic for which llmopt answers itself, counted per policy. */
#define NGX_HTTP_LLMOPT_REJECT_BAD_JSON    0
#define NGX_HTTP_LLMOPT_REJECT_TOO_LARGE   1
#define NGX_HTTP_LLMOPT_REJECT_MEDIA_TYPE  2
#define NGX_HTTP_LLMOPT_REJECT_CONSTRAINT  3    /* no arm fits (guardrails) */
#define NGX_HTTP_LLMOPT_REJECT_BUDGET      4    /* at a budget's cap */
#define NGX_HTTP_LLMOPT_REJECT_LAST        5

#define NGX_HTTP_LLMOPT_DRIVER_AUTO     0
#define NGX_HTTP_LLMOPT_DRIVER_HELPER   1
#define NGX_HTTP_LLMOPT_DRIVER_WORKER   2

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

typedef struct {
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
} ngx_http_llmopt_block_t;

/* a block's sparse table (llmopt_sparse.h), or NULL */
#define ngx_http_llmopt_block_sparse(b)                                      \
    ((b)->sparse ? (void *) ((b)->params + (b)->size) : NULL)


/*
 * Histogram buckets, upper bounds: response times (latency, time to first
 * token) in ms and decision times in ns; the last bucket is +Inf.
 */
#define NGX_HTTP_LLMOPT_TIME_BUCKETS      14
#define NGX_HTTP_LLMOPT_DECISION_BUCKETS  10

extern const double  ngx_http_llmopt_time_bounds_ms[];
extern const double  ngx_http_llmopt_decision_bounds_ns[];


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


/*
 * A policy's canary rollout, run by the trainer (workers read state and
 * stage); the state file keeps it as it is.
 */

typedef struct {
    ngx_atomic_t                  state;         /* LLMOPT_CANARY_* */
    ngx_atomic_t                  stage;
    ngx_atomic_t                  since_ms;      /* the stage began */
    ngx_atomic_t                  changes;       /* gates passed or failed */
    uint64_t                      conf;          /* hash of its conf */
    llmopt_canary_side_t          side[2];       /* canary, the others */
    u_char                        why[192];      /* the last gate */
} ngx_http_llmopt_canary_t;


/* Counters of a policy in the zone, updated with atomic adds. */

typedef struct {
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
    ngx_http_llmopt_history_t    *history;       /* NULL: zone too small */

    ngx_http_llmopt_budget_t     *budget;        /* NULL: no budget */

    ngx_http_llmopt_canary_t      canary;
} ngx_http_llmopt_stats_t;


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


typedef struct {
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
} ngx_http_llmopt_shctx_t;


/* llmopt_redis */

typedef struct {
    ngx_str_t                     addr;          /* as written */
    ngx_str_t                     host;          /* NUL-terminated */
    ngx_int_t                     port;          /* 0: unix socket */
    ngx_str_t                     prefix;
    ngx_str_t                     instance;
    ngx_str_t                     password;
    ngx_uint_t                    db;
    ngx_msec_t                    sync;
    ngx_msec_t                    timeout;
    ngx_msec_t                    idle;          /* an instance silent for
                                                    longer is gone */
    ngx_str_t                     stream;        /* key; empty: off */
    ngx_uint_t                    stream_maxlen;
} ngx_http_llmopt_redis_conf_t;


/* An arm ready for the request path. */

typedef struct {
    ngx_str_t                     name;
    ngx_str_t                     model;         /* provider's id */
    ngx_str_t                     upstream;
    llmopt_kv_t                   set[16];       /* "model" + params */
    ngx_uint_t                    n_set;
    ngx_array_t                   headers;       /* ngx_keyval_t */
} ngx_http_llmopt_arm_t;


/* A catalog policy as this process runs it. */

typedef struct {
    ngx_str_t                     name;
    const llmopt_policy_t        *policy;
    ngx_http_llmopt_arm_t        *arms;
    ngx_uint_t                    n_arms;
    ngx_int_t                     fallback;      /* arm index */
    uint64_t                      shape;
    uint64_t                      layout;        /* of an arm's record:
                                                    algorithm, features */

    ngx_http_llmopt_block_t      *block;         /* in the zone */
    ngx_http_llmopt_block_t      *local;         /* in the zone, or NULL */
    ngx_http_llmopt_block_t      *others;        /* in the zone, or NULL:
                                                    the other instances'
                                                    statistics as last read
                                                    from Redis, merged */
    ngx_http_llmopt_stats_t      *stats;         /* in the zone */
    ngx_http_llmopt_block_t      *attic[2];      /* in the zone, or NULL:
                                                    removed arms' records,
                                                    never written again */

    /* per worker, set in init_process */
    u_char                       *last_good;     /* copy of params */
    uint64_t                      last_seq;
    llmopt_rng_t                  rng;
} ngx_http_llmopt_policy_rt_t;


typedef struct {
    ngx_str_t                     catalog_file;
    llmopt_catalog_t              catalog;
    ngx_uint_t                    loaded;        /* unsigned:1 */
    ngx_uint_t                    catalog_seen;  /* unsigned:1 */
    ngx_array_t                   env_names;     /* ngx_str_t: set by
                                                    llmopt_env_file */
    ngx_array_t                   policies;      /* policy_rt_t */

    ngx_shm_zone_t               *shm_zone;
    ngx_http_llmopt_shctx_t      *sh;
    ngx_slab_pool_t              *shpool;

    /* per worker scratch for the JSON tokenizer */
    llmopt_json_tok_t            *toks;
    ngx_uint_t                    ntoks;

    /* per worker pool of random bytes for request ids: one getrandom()
       call for 256 ids of 16 bytes */
    u_char                        random[4096];
    ngx_uint_t                    random_used;

    ngx_uint_t                    events;        /* ring slots, 0: auto */
    ngx_uint_t                    pending;       /* pending slots, 0: auto */

    ngx_msec_t                    trainer_interval;
    ngx_msec_t                    trainer_budget;
    ngx_uint_t                    trainer_driver;
    ngx_int_t                     trainer_nice;  /* below the workers */
    ngx_path_t                   *trainer_path;

    ngx_str_t                     state_file;
    ngx_msec_t                    state_interval;

    ngx_str_t                     feedback_secret;

    ngx_http_llmopt_redis_conf_t *redis;         /* NULL: none */
    void                         *redis_state;   /* the trainer's */
    void                        **drift;         /* the trainer's, per
                                                    policy: per arm */
    void                         *drift_in;      /* learned this tick */
    ngx_uint_t                    n_drift_in;

    /* the trainer, in the process that holds the lease */
    ngx_uint_t                    driver;        /* this process's */
    ngx_uint_t                    leased;        /* unsigned:1 */
    llmopt_trainer_t              trainer;
    llmopt_trainer_policy_t      *tpolicies;
    ngx_event_t                   trainer_event;
    uint64_t                      checkpoint_ms;
    uint64_t                      checkpoint_updates;
} ngx_http_llmopt_main_conf_t;


typedef struct {
    ngx_str_t                     policy_name;
    ngx_http_llmopt_policy_rt_t  *policy;
    ngx_int_t                     dialect;       /* -1 = by location */
    ngx_http_complex_value_t     *tenant;
    size_t                        max_body;
    ngx_uint_t                    max_depth;
    ngx_uint_t                    route_line;    /* of llmopt_route or */
    ngx_str_t                     route_file;    /*   llmopt_failover */
    ngx_uint_t                    pass_methods;  /* NGX_HTTP_GET|...; 0 off */
    ngx_array_t                  *pass_paths;    /* ngx_str_t; NULL: any */
    ngx_str_t                     allow[4];      /* of a 405: [1] POST,
                                                    [2] pass_methods, [3]
                                                    both */
    ngx_flag_t                    feedback;
    ngx_str_t                     quality_header;
    ngx_flag_t                    trace;
    ngx_flag_t                    failover;
    ngx_flag_t                    shadow;
    ngx_str_t                     pin_header;
    ngx_msec_t                    drain_timeout; /* 0: off */
} ngx_http_llmopt_loc_conf_t;


/* ngx_http_llmopt_ctx_t.client_gone */
#define NGX_HTTP_LLMOPT_GONE_BEFORE   1   /* before the answer's first byte */
#define NGX_HTTP_LLMOPT_GONE_DURING   2   /* with the answer under way */


/* The decision, kept where internal redirects cannot lose it. */

typedef struct {
    ngx_int_t                     status;        /* of the phase handler */
    unsigned                      routed:1;
    unsigned                      passthrough:1;
    unsigned                      fallback:1;
    unsigned                      explore:1;
    unsigned                      stream:1;
    unsigned                      rejected:1;
    unsigned                      probe:1;       /* a half-open arm's test */
    unsigned                      failed_over:1; /* on a second arm now */
    unsigned                      pinned:1;      /* the client named it */
    unsigned                      shadow:1;      /* shadow mode: decided,
                                                    not applied */
    ngx_uint_t                    shadow_arm;    /* what was decided */
    unsigned                      budgeted:1;    /* a reservation held */
    unsigned                      canary:1;      /* sent to the canary */
    int64_t                       budget_est;    /* nUSD reserved */
    llmopt_budget_account_t      *budget_tenant; /* or NULL */
    uint32_t                      budget_period[2];
    uint32_t                      budget_window; /* of the reservation */
    u_char                       *body;          /* the client's, for */
    size_t                        body_len;      /*   a failover */
    ngx_list_part_t               client_headers; /* theirs, as they came */
    unsigned                      headers_kept:1; /* ...once rebuilt */

    llmopt_dialect_e              dialect;
    ngx_http_llmopt_policy_rt_t  *policy;
    ngx_uint_t                    arm;
    double                        propensity;
    double                        x[LLMOPT_FEATURE_MAX_DIM];
    ngx_uint_t                    d;
    llmopt_sparse_carry_t         sparse;        /* algorithm sparse */
    uint64_t                      decision_ns;
    off_t                         body_in;
    off_t                         body_out;
    u_char                       *out;           /* the rewritten body, */
    ngx_uint_t                    out_class;     /*   from the cache */
    u_char                        request_id[32];
    u_char                        id[LLMOPT_REQUEST_ID_LEN];
    uint64_t                      feedback_tenant;  /* whose feedback the
                                                       outcome takes, 0:
                                                       anyone's */
    u_char                        trace_id[32];  /* W3C trace-id, hex */
    unsigned                      has_trace:1;

    /* the response, seen by the filters */
    unsigned                      draining:1;    /* client gone, read on */
    unsigned                      client_gone:2; /* NGX_HTTP_LLMOPT_GONE_* */
    unsigned                      body_sent:1;   /* a byte went out */
    unsigned                      cost_estimated:1;
    uint64_t                      input_est;     /* the prompt's tokens */
    ngx_event_t                   drain_event;   /* llmopt_drain_timeout */
    unsigned                      strip:1;       /* usage chunk we asked */
    unsigned                      sse:1;
    unsigned                      filtering:1;
    unsigned                      body_done:1;
    unsigned                      settled:1;
    unsigned                      logged:1;
    uint64_t                      start_ns;      /* decision, monotonic */
    uint64_t                      start_ms;      /* decision, wall clock */
    double                        ttft_ms;       /* -1: unknown */
    double                        latency_ms;
    double                        quality;       /* header; -1: none */
    ngx_msec_t                    retry_after;   /* of a 429, ms; 0: none */
    llmopt_usage_t               *usage;         /* NULL or &usage_mem */
    llmopt_usage_t                usage_mem;
    u_char                       *hold;          /* held stream bytes */
    size_t                        held;

    /* settled at the end */
    ngx_uint_t                    upstream_status;
    double                        cost;          /* -1: unknown */
    double                        reward;        /* -1: not final yet */
    llmopt_event_t                event;
} ngx_http_llmopt_ctx_t;


extern ngx_module_t  ngx_http_llmopt_module;


typedef ngx_int_t (*ngx_http_llmopt_header_pt)(ngx_table_elt_t *h,
    void *data);

ngx_int_t ngx_http_llmopt_headers(ngx_list_t *list, ngx_str_t *name,
    ngx_http_llmopt_header_pt fn, void *data);
ngx_http_llmopt_ctx_t *ngx_http_llmopt_get_ctx(ngx_http_request_t *r);
void ngx_http_llmopt_cache_free(void);
ngx_int_t ngx_http_llmopt_handler(ngx_http_request_t *r);
ngx_int_t ngx_http_llmopt_add_variables(ngx_conf_t *cf);
ngx_int_t ngx_http_llmopt_filter_init(ngx_conf_t *cf);
ngx_int_t ngx_http_llmopt_log_handler(ngx_http_request_t *r);
void ngx_http_llmopt_settle(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx);
uint64_t ngx_http_llmopt_now_ns(void);
uint64_t ngx_http_llmopt_wall_ms(void);
char *ngx_http_llmopt_feedback(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
ngx_int_t ngx_http_llmopt_feedback_token(ngx_str_t *secret,
    u_char *id_hex, u_char *out);
char *ngx_http_llmopt_trainer_conf(ngx_conf_t *cf,
    ngx_http_llmopt_main_conf_t *lmcf);
ngx_int_t ngx_http_llmopt_trainer_init_process(ngx_cycle_t *cycle,
    ngx_http_llmopt_main_conf_t *lmcf);
void ngx_http_llmopt_trainer_exit_process(ngx_cycle_t *cycle,
    ngx_http_llmopt_main_conf_t *lmcf);
void ngx_http_llmopt_trainer_exit_master(ngx_cycle_t *cycle,
    ngx_http_llmopt_main_conf_t *lmcf);
size_t ngx_http_llmopt_snap_size(ngx_uint_t n_arms);
ngx_int_t ngx_http_llmopt_history_init(ngx_slab_pool_t *shpool,
    ngx_http_llmopt_shctx_t *sh, ngx_http_llmopt_stats_t *stats,
    ngx_uint_t n_arms);
void ngx_http_llmopt_history_tick(ngx_http_llmopt_main_conf_t *lmcf,
    uint64_t now);
ngx_http_llmopt_snap_t *ngx_http_llmopt_history_live(
    ngx_http_llmopt_policy_rt_t *prt, ngx_http_llmopt_snap_t *snap);
ngx_int_t ngx_http_llmopt_history_get(ngx_http_llmopt_policy_rt_t *prt,
    ngx_uint_t ring, ngx_uint_t back, ngx_http_llmopt_snap_t *snap);
ngx_int_t ngx_http_llmopt_history_before(ngx_http_llmopt_policy_rt_t *prt,
    uint64_t time_ms, ngx_http_llmopt_snap_t *snap);
ngx_int_t ngx_http_llmopt_dashboard(ngx_http_request_t *r);
ngx_int_t ngx_http_llmopt_feedback_tenant(ngx_http_llmopt_main_conf_t *lmcf,
    u_char *tenant, size_t len, uint64_t *key);
void ngx_http_llmopt_attempt_failed(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx);
ngx_msec_t ngx_http_llmopt_retry_after(ngx_http_request_t *r);
int ngx_http_llmopt_breaker_probe(ngx_http_llmopt_policy_rt_t *prt,
    ngx_uint_t a, uint64_t now);
void ngx_http_llmopt_breaker_outcome(ngx_http_llmopt_ctx_t *ctx,
    ngx_uint_t failed, uint64_t now, ngx_log_t *log);
ngx_int_t ngx_http_llmopt_budget_init(ngx_slab_pool_t *shpool,
    ngx_http_llmopt_stats_t *st, ngx_http_llmopt_policy_rt_t *prt,
    ngx_log_t *log);
void ngx_http_llmopt_budget_read(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_budget_t *b, llmopt_budget_account_t *acct,
    ngx_uint_t *active);
ngx_int_t ngx_http_llmopt_budget_check(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, ngx_str_t *tenant,
    const llmopt_guard_need_t *need, unsigned char *fits, int64_t *est,
    time_t *retry_s);
ngx_int_t ngx_http_llmopt_budget_reserve(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, int64_t est);
void ngx_http_llmopt_budget_spend(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx, double cost, ngx_uint_t final);
void ngx_http_llmopt_canary_init(ngx_http_llmopt_stats_t *st,
    ngx_http_llmopt_policy_rt_t *prt);
double ngx_http_llmopt_canary_share(ngx_http_llmopt_policy_rt_t *prt);
void ngx_http_llmopt_canary_learned(ngx_http_llmopt_policy_rt_t *prt,
    const llmopt_event_t *ev, const llmopt_reward_t *rw, uint64_t now,
    ngx_log_t *log);
const char *ngx_http_llmopt_breaker_state(ngx_http_llmopt_arm_stats_t *as,
    uint64_t now);
char *ngx_http_llmopt_redis_conf(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
char *ngx_http_llmopt_redis_check(ngx_conf_t *cf,
    ngx_http_llmopt_main_conf_t *lmcf);
void ngx_http_llmopt_redis_start(ngx_http_llmopt_main_conf_t *lmcf);
void ngx_http_llmopt_redis_tick(ngx_http_llmopt_main_conf_t *lmcf,
    uint64_t now, ngx_log_t *log);
void ngx_http_llmopt_redis_lease(ngx_http_llmopt_main_conf_t *lmcf);
void ngx_http_llmopt_redis_learned(void *data, const llmopt_event_t *ev,
    const llmopt_reward_t *rw);
void ngx_http_llmopt_redis_keep(ngx_http_llmopt_main_conf_t *lmcf);
void ngx_http_llmopt_redis_exit(ngx_http_llmopt_main_conf_t *lmcf);
ngx_int_t ngx_http_llmopt_send_json(ngx_http_request_t *r, ngx_uint_t status,
    ngx_buf_t *b);
ngx_int_t ngx_http_llmopt_send_body(ngx_http_request_t *r, ngx_uint_t status,
    ngx_str_t *type, ngx_buf_t *b);
ngx_int_t ngx_http_llmopt_add_header(ngx_http_request_t *r, char *name,
    u_char *value, size_t len);
ngx_str_t *ngx_http_llmopt_endpoint(llmopt_dialect_e dialect);
ngx_int_t ngx_http_llmopt_send_error(ngx_http_request_t *r,
    llmopt_dialect_e dialect, ngx_uint_t status, const char *type,
    const char *code, u_char *msg, size_t len);


#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_state.h"


#endif /* _NGX_HTTP_LLMOPT_MODULE_H_INCLUDED_ */
