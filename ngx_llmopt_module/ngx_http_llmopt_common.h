
/*
 * Copyright (C) llmopt authors
 *
 * What every part of the glue shares: the module's configurations (main
 * and location), a policy and an arm as a process runs them, the request's
 * context, and the few macros they need.  The zone's layout is
 * ngx_http_llmopt_zone.h; each file's functions are in its own header.
 */

#ifndef _NGX_HTTP_LLMOPT_COMMON_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_COMMON_H_INCLUDED_


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "llmopt_core.h"
#include "llmopt_catalog.h"
#include "llmopt_json.h"
#include "llmopt_request.h"
#include "llmopt_features.h"
#include "llmopt_bandit.h"
#include "llmopt_rng.h"
#include "llmopt_ring.h"
#include "llmopt_usage.h"
#include "llmopt_budget.h"
#include "llmopt_trainer.h"


#define NGX_HTTP_LLMOPT_VERSION       "0.1.0"

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


/* In the zone (ngx_http_llmopt_zone.h). */
typedef struct ngx_http_llmopt_block_s     ngx_http_llmopt_block_t;
typedef struct ngx_http_llmopt_stats_s     ngx_http_llmopt_stats_t;
typedef struct ngx_http_llmopt_shctx_s     ngx_http_llmopt_shctx_t;

/* A request's cascade (ngx_http_llmopt_cascade.c). */
typedef struct ngx_http_llmopt_cascade_s   ngx_http_llmopt_cascade_t;

/* The trainer's, in its process (ngx_http_llmopt_redis.c,
   ngx_http_llmopt_trainer.c). */
typedef struct ngx_http_llmopt_redis_s     ngx_http_llmopt_redis_t;
typedef struct ngx_http_llmopt_drift_s     ngx_http_llmopt_drift_t;
typedef struct ngx_http_llmopt_drift_in_s  ngx_http_llmopt_drift_in_t;

/* A translated request's (ngx_http_llmopt_translate.h). */
typedef struct ngx_http_llmopt_xlate_s     ngx_http_llmopt_xlate_t;


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
    const llmopt_model_t         *spec;          /* the catalog's model */
    unsigned                      drop_unsupported:1;  /* the model's or
                                                    the policy's */
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
    ngx_http_llmopt_redis_t      *redis_state;   /* the trainer's */
    ngx_http_llmopt_drift_t     **drift;         /* the trainer's, per
                                                    policy: per arm */
    ngx_http_llmopt_drift_in_t   *drift_in;      /* learned this tick */
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
    llmopt_dialect_e              client;        /* the clients' dialect:
                                                    dialect=, the name or
                                                    the policy's */
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
    ngx_int_t                     variant;       /* prompt variant, -1 */
    double                        variant_propensity;
    double                        x[LLMOPT_FEATURE_MAX_DIM];
    ngx_uint_t                    d;
    llmopt_sparse_carry_t         sparse;        /* algorithm sparse */
    uint64_t                      decision_ns;
    off_t                         body_in;
    off_t                         body_out;
    u_char                       *out;           /* the rewritten body, */
    ngx_uint_t                    out_class;     /*   from the cache */
    u_char                       *in;            /* the client's body in */
    ngx_uint_t                    in_class;      /*   one piece, cached */
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
    ngx_http_llmopt_xlate_t      *xlate;         /* NULL: never translated */
    ngx_str_t                     client_uri;    /* r->uri as it came, */
    unsigned                      client_unparsed:1;  /* valid_unparsed */
    unsigned                      uri_kept:1;    /*   once an arm's set */

    /* the exact cache (ngx_http_llmopt_cache.c) */
    ngx_uint_t                    cache_arm;     /* decided for, + 1 */
    unsigned                      cache_keyed:1;
    unsigned                      cache_lookup:1;
    unsigned                      cache_store:1;
    unsigned                      cache_hit:1;   /* nginx answered */
    unsigned                      cache_replay:1;  /* a stream sent as a
                                                      JSON request, its
                                                      answer replayed */
    unsigned                      cache_usage:1; /* ...with the usage
                                                    chunk (OpenAI) */
    const char                   *cache_why;     /* no key: why */
    double                        cache_saved;   /* USD, by a hit */
    ngx_buf_t                    *cache_json;    /* the answer replayed */
    u_char                        cache_key[LLMOPT_CACHE_KEY_LEN];

    /* settled at the end */
    ngx_uint_t                    upstream_status;
    double                        cost;          /* -1: unknown */
    double                        reward;        /* -1: not final yet */
    llmopt_event_t                event;

    ngx_http_llmopt_cascade_t    *cascade;       /* the main request's, or
                                                    NULL */
    off_t                         kept;          /* an attempt's bytes */
    unsigned                      too_big:1;     /* its answer did not fit
                                                    in memory */
} ngx_http_llmopt_ctx_t;


extern ngx_module_t  ngx_http_llmopt_module;


#endif /* _NGX_HTTP_LLMOPT_COMMON_H_INCLUDED_ */
