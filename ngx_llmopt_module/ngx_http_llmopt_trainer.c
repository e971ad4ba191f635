
/*
 * Copyright (C) llmopt authors
 *
 * The trainer: the single writer of learned parameters.  It runs in the
 * process that holds the lease in the zone (owner pid and heartbeat): the
 * cache manager with driver=helper (a manager callback of an ngx_path_t),
 * or a worker's timer with driver=worker (needed with master_process off).
 * Each tick drains the ring, finalises pending outcomes whose feedback
 * wait ended, learns, publishes under the seqlocks and, now and then,
 * writes the state file.  A tick has a time budget; what is left waits for
 * the next one.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include <sys/resource.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_canary.h"
#include "ngx_http_llmopt_history.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_redis.h"
#include "ngx_http_llmopt_redis_stream.h"
#include "ngx_http_llmopt_redis_sync.h"
#include "ngx_http_llmopt_state.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_trainer.h"

#include "llmopt_drift.h"
#include "llmopt_slo.h"


#define NGX_HTTP_LLMOPT_TRAINER_BATCH     256
#define NGX_HTTP_LLMOPT_LEASE_STALE_MS    3000


static ngx_msec_t ngx_http_llmopt_trainer_manager(void *data);
static void ngx_http_llmopt_trainer_nice(ngx_cycle_t *cycle,
    ngx_http_llmopt_main_conf_t *lmcf);
static void ngx_http_llmopt_trainer_timer(ngx_event_t *ev);
static ngx_int_t ngx_http_llmopt_trainer_prepare(ngx_cycle_t *cycle,
    ngx_http_llmopt_main_conf_t *lmcf);
static void ngx_http_llmopt_trainer_tick(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_log_t *log);
static ngx_int_t ngx_http_llmopt_lease(ngx_http_llmopt_main_conf_t *lmcf,
    uint64_t now, ngx_log_t *log);
static void ngx_http_llmopt_release(ngx_http_llmopt_main_conf_t *lmcf);
static void ngx_http_llmopt_expire(ngx_http_llmopt_main_conf_t *lmcf,
    uint64_t now, uint64_t deadline);


#define NGX_HTTP_LLMOPT_DRIFT_IN      8192    /* outcomes a tick */


struct ngx_http_llmopt_drift_in_s {
    uint16_t             policy;
    uint16_t             arm;
    float                surprise;       /* reward - the model's estimate */
    float                latency_ms;     /* < 0: unknown */
};


struct ngx_http_llmopt_drift_s {
    llmopt_drift_watch_t watch;          /* src/llmopt_drift.c */
    llmopt_slo_t         slo;            /* the latest latencies */
};


static void ngx_http_llmopt_drift_init(ngx_http_llmopt_drift_t *d,
    ngx_uint_t n);
static void ngx_http_llmopt_slo(ngx_http_llmopt_main_conf_t *lmcf);
static void ngx_http_llmopt_drift_flush(ngx_http_llmopt_main_conf_t *lmcf);
static void ngx_http_llmopt_learned(void *data, const llmopt_event_t *ev,
    const llmopt_reward_t *rw);
static void ngx_http_llmopt_drift_alarm(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_policy_rt_t *prt, llmopt_trainer_policy_t *tp,
    ngx_uint_t arm, const llmopt_drift_alarm_t *alarm);


static ngx_str_t  ngx_http_llmopt_trainer_dir = ngx_string("llmopt");


/* Defaults, and the manager path that makes nginx run a cache manager. */

char *
ngx_http_llmopt_trainer_conf(ngx_conf_t *cf, ngx_http_llmopt_main_conf_t *lmcf)
{
    ngx_path_t  *path;

    ngx_conf_init_msec_value(lmcf->trainer_interval, 100);
    ngx_conf_init_msec_value(lmcf->trainer_budget, 20);
    ngx_conf_init_value(lmcf->trainer_nice, 10);
    ngx_conf_init_uint_value(lmcf->trainer_driver,
                             NGX_HTTP_LLMOPT_DRIVER_AUTO);
    ngx_conf_init_msec_value(lmcf->state_interval, 30000);

    if (!lmcf->loaded
        || lmcf->trainer_driver == NGX_HTTP_LLMOPT_DRIVER_WORKER)
    {
        return NGX_CONF_OK;
    }

    path = ngx_pcalloc(cf->pool, sizeof(ngx_path_t));
    if (path == NULL) {
        return NGX_CONF_ERROR;
    }

    path->name = ngx_http_llmopt_trainer_dir;

    if (ngx_conf_full_name(cf->cycle, &path->name, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    path->manager = ngx_http_llmopt_trainer_manager;
    path->data = lmcf;
    path->conf_file = cf->conf_file->file.name.data;
    path->line = cf->conf_file->line;

    lmcf->trainer_path = path;

    if (ngx_add_path(cf, &lmcf->trainer_path) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The helper that trains runs "nice" levels below the workers
 * (worker_priority), so that a tick never holds a core a worker or an
 * upstream on the same machine is waiting for: the scheduler lets them in
 * first.  Spare time goes to the trainer whatever its level; under full
 * load, level 10 still leaves it about a tenth of a core.  A process can
 * only lower its own priority: the level never goes above the current.
 */

static void
ngx_http_llmopt_trainer_nice(ngx_cycle_t *cycle,
    ngx_http_llmopt_main_conf_t *lmcf)
{
    int               cur, want;
    ngx_core_conf_t  *ccf;

    if (lmcf->trainer_nice == 0) {
        return;
    }

    ccf = (ngx_core_conf_t *) ngx_get_conf(cycle->conf_ctx, ngx_core_module);

    errno = 0;
    cur = getpriority(PRIO_PROCESS, 0);

    if (cur == -1 && errno != 0) {
        return;
    }

    want = ngx_min((int) (ccf->priority + lmcf->trainer_nice), 19);

    if (want <= cur) {
        return;
    }

    if (setpriority(PRIO_PROCESS, 0, want) == -1) {
        ngx_log_error(NGX_LOG_WARN, cycle->log, ngx_errno,
                      "llmopt: the trainer keeps its priority: "
                      "setpriority(%d) failed", want);
    }
}


ngx_int_t
ngx_http_llmopt_trainer_init_process(ngx_cycle_t *cycle,
    ngx_http_llmopt_main_conf_t *lmcf)
{
    lmcf->driver = NGX_HTTP_LLMOPT_DRIVER_AUTO;      /* none here */

    if (ngx_process == NGX_PROCESS_HELPER) {
        if (lmcf->trainer_path == NULL) {
            return NGX_OK;
        }

        lmcf->driver = NGX_HTTP_LLMOPT_DRIVER_HELPER;

        ngx_http_llmopt_trainer_nice(cycle, lmcf);

    } else if (ngx_process == NGX_PROCESS_SINGLE
               || (ngx_process == NGX_PROCESS_WORKER
                   && lmcf->trainer_driver == NGX_HTTP_LLMOPT_DRIVER_WORKER))
    {
        lmcf->driver = NGX_HTTP_LLMOPT_DRIVER_WORKER;

    } else {
        return NGX_OK;
    }

    if (ngx_http_llmopt_trainer_prepare(cycle, lmcf) != NGX_OK) {
        return NGX_ERROR;
    }

    if (lmcf->driver == NGX_HTTP_LLMOPT_DRIVER_WORKER) {
        lmcf->trainer_event.handler = ngx_http_llmopt_trainer_timer;
        lmcf->trainer_event.data = lmcf;
        lmcf->trainer_event.log = cycle->log;
        lmcf->trainer_event.cancelable = 1;

        ngx_add_timer(&lmcf->trainer_event, lmcf->trainer_interval);
    }

    return NGX_OK;
}


/* The trainer's private copies of the policies' blocks. */

static ngx_int_t
ngx_http_llmopt_trainer_prepare(ngx_cycle_t *cycle,
    ngx_http_llmopt_main_conf_t *lmcf)
{
    size_t                        size;
    ngx_uint_t                    i, n;
    ngx_http_llmopt_policy_rt_t  *prt;

    n = lmcf->policies.nelts;
    prt = lmcf->policies.elts;

    lmcf->tpolicies = ngx_pcalloc(cycle->pool,
                                  n * sizeof(llmopt_trainer_policy_t) + 1);
    if (lmcf->tpolicies == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        size = prt[i].block->size;

        lmcf->tpolicies[i].policy = prt[i].policy;
        lmcf->tpolicies[i].lock = &prt[i].block->lock;
        lmcf->tpolicies[i].shared = prt[i].block->params;
        lmcf->tpolicies[i].size = size;
        lmcf->tpolicies[i].tally = prt[i].stats->tally;
        lmcf->tpolicies[i].variants = prt[i].stats->variants;
        lmcf->tpolicies[i].sparse = ngx_http_llmopt_block_sparse(prt[i].block);
        lmcf->tpolicies[i].sparse_local =
                                 prt[i].local != NULL
                                 ? ngx_http_llmopt_block_sparse(prt[i].local)
                                 : NULL;

        lmcf->tpolicies[i].work = ngx_palloc(cycle->pool, size);
        if (lmcf->tpolicies[i].work == NULL) {
            return NGX_ERROR;
        }
    }

    lmcf->leased = 0;
    lmcf->checkpoint_ms = ngx_http_llmopt_wall_ms();

    if (lmcf->redis != NULL && ngx_process == NGX_PROCESS_HELPER) {
        ngx_http_llmopt_redis_start(lmcf);
    }

    /* the change detectors of every arm */

    lmcf->drift = ngx_pcalloc(cycle->pool, (n + 1) * sizeof(void *));
    lmcf->drift_in = ngx_palloc(cycle->pool, NGX_HTTP_LLMOPT_DRIFT_IN
                                * sizeof(ngx_http_llmopt_drift_in_t));
    lmcf->n_drift_in = 0;

    if (lmcf->drift == NULL || lmcf->drift_in == NULL) {
        return NGX_ERROR;
    }

    for (i = 0; i < n; i++) {
        lmcf->drift[i] = ngx_palloc(cycle->pool, prt[i].n_arms
                                    * sizeof(ngx_http_llmopt_drift_t));
        if (lmcf->drift[i] == NULL) {
            return NGX_ERROR;
        }

        ngx_http_llmopt_drift_init(lmcf->drift[i], prt[i].n_arms);
    }

    return NGX_OK;
}


static void
ngx_http_llmopt_drift_init(ngx_http_llmopt_drift_t *d, ngx_uint_t n)
{
    ngx_uint_t  a;

    for (a = 0; a < n; a++) {
        llmopt_drift_watch_init(&d[a].watch);
        llmopt_slo_init(&d[a].slo);
    }
}


/*
 * Each tick: the p95 of every arm's recent latencies against its policy's
 * latency_slo; an arm above it is left out by the workers (unless every
 * arm is).
 */

static void
ngx_http_llmopt_slo(ngx_http_llmopt_main_conf_t *lmcf)
{
    double                        p95;
    unsigned                      breach;
    ngx_uint_t                    i, a, level;
    ngx_http_llmopt_drift_t      *d;
    ngx_http_llmopt_policy_rt_t  *prt;
    ngx_http_llmopt_arm_stats_t  *as;

    if (lmcf->drift == NULL) {
        return;
    }

    prt = lmcf->policies.elts;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        if (prt[i].policy->latency_slo_ms == 0) {
            continue;
        }

        d = lmcf->drift[i];

        for (a = 0; a < prt[i].n_arms; a++) {
            as = &prt[i].stats->arms[a];

            if (llmopt_slo_verdict(&d[a].slo, prt[i].policy->latency_slo_ms,
                                   &p95, &breach)
                != LLMOPT_OK)
            {
                continue;
            }

            as->slo_p95_ms = (ngx_atomic_uint_t) p95;

            if (breach != as->slo_breach) {
                as->slo_breach = breach;

                level = breach ? NGX_LOG_WARN : NGX_LOG_NOTICE;

                ngx_log_error(level, ngx_cycle->log, 0,
                              "llmopt: policy \"%V\" arm \"%V\": recent p95 "
                              "latency %.0f ms %s the SLO of %uL ms%s",
                              &prt[i].name, &prt[i].arms[a].name, p95,
                              breach ? "breaks" : "meets",
                              prt[i].policy->latency_slo_ms,
                              breach ? ": left out" : " again");
            }
        }
    }
}


/*
 * For every reward learned: the change detectors of its arm, then the
 * Redis event stream.  Rewards are judged by their surprise -- the reward
 * less what the arm's model expected for that context -- so that a policy
 * sending different prompts to an arm is not taken for a change of the
 * arm; latencies by their latency term.
 */

static void
ngx_http_llmopt_learned(void *data, const llmopt_event_t *ev,
    const llmopt_reward_t *rw)
{
    ngx_http_llmopt_main_conf_t *lmcf = data;

    double                        expected;
    llmopt_trainer_policy_t      *tp;
    ngx_http_llmopt_drift_in_t   *in;
    ngx_http_llmopt_policy_rt_t  *prt;
    const llmopt_policy_t        *policy;

    if (lmcf->redis_state != NULL) {
        ngx_http_llmopt_redis_learned(lmcf, ev, rw);
    }

    if (ev->policy >= lmcf->policies.nelts) {
        return;
    }

    prt = &((ngx_http_llmopt_policy_rt_t *) lmcf->policies.elts)[ev->policy];
    policy = prt->policy;

    if (policy->canary.arm >= 0) {
        ngx_http_llmopt_canary_learned(prt, ev, rw, ngx_http_llmopt_wall_ms(),
                                       ngx_cycle->log);
    }

    if (lmcf->drift == NULL || lmcf->drift_in == NULL) {
        return;
    }

    tp = &lmcf->tpolicies[ev->policy];

    if (ev->arm >= prt->n_arms) {
        return;
    }

    /* the surprise now, cheaply; the detectors run after publishing, so
       that a trainer killed mid-tick loses as little as before */

    expected = llmopt_drift_expected(&policy->bandit, tp->work, ev->arm,
                                     ev->x, ev->d);

    if (lmcf->n_drift_in == NGX_HTTP_LLMOPT_DRIFT_IN) {
        ngx_http_llmopt_drift_flush(lmcf);
    }

    in = &((ngx_http_llmopt_drift_in_t *) lmcf->drift_in)[lmcf->n_drift_in++];
    in->policy = ev->policy;
    in->arm = ev->arm;
    in->surprise = (float) (rw->reward - expected);
    in->latency_ms = ev->latency_ms;
}


/* The change detectors and the SLO samples, fed what the tick learned. */

static void
ngx_http_llmopt_drift_flush(ngx_http_llmopt_main_conf_t *lmcf)
{
    ngx_uint_t                    k;
    llmopt_drift_alarm_t          alarm;
    llmopt_trainer_policy_t      *tp;
    ngx_http_llmopt_drift_t      *d;
    ngx_http_llmopt_drift_in_t   *in;
    ngx_http_llmopt_policy_rt_t  *prt;
    const llmopt_policy_t        *policy;

    for (k = 0; k < lmcf->n_drift_in; k++) {
        in = &((ngx_http_llmopt_drift_in_t *) lmcf->drift_in)[k];

        prt = &((ngx_http_llmopt_policy_rt_t *) lmcf->policies.elts)
                  [in->policy];
        policy = prt->policy;
        tp = &lmcf->tpolicies[in->policy];
        d = &((ngx_http_llmopt_drift_t *) lmcf->drift[in->policy])[in->arm];

        if (in->latency_ms >= 0) {
            llmopt_slo_add(&d->slo, in->latency_ms);
        }

        if (llmopt_drift_watch_add(&d->watch, in->surprise, in->latency_ms,
                                   policy->reward.latency_ref, &alarm))
        {
            ngx_http_llmopt_drift_alarm(lmcf, prt, tp, in->arm, &alarm);
        }
    }

    lmcf->n_drift_in = 0;
}


/* An alarm of arm: counted, logged, and the policy's response. */

static void
ngx_http_llmopt_drift_alarm(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_policy_rt_t *prt, llmopt_trainer_policy_t *tp,
    ngx_uint_t arm, const llmopt_drift_alarm_t *alarm)
{
    uint64_t                until;
    ngx_uint_t              latency;
    const llmopt_policy_t  *policy;

    policy = prt->policy;
    latency = alarm->of == LLMOPT_DRIFT_OF_LATENCY;

    (void) ngx_atomic_fetch_add(&prt->stats->arms[arm].drift_alarms[latency],
                                1);

    ngx_log_error(NGX_LOG_WARN, ngx_cycle->log, 0,
                  "llmopt: policy \"%V\" arm \"%V\": drift, its %s %s "
                  "(%s); %s", &prt->name, &prt->arms[arm].name,
                  latency ? "latency" : "reward",
                  latency ? (alarm->sign > 0 ? "rose" : "fell")
                          : (alarm->sign > 0 ? "beats its model"
                                             : "falls short of its model"),
                  alarm->detector,
                  llmopt_drift_response_words(policy->drift_response));

    until = 0;

    if (llmopt_drift_respond(policy, tp->work, (unsigned) arm,
                             ngx_http_llmopt_wall_ms(), &until))
    {
        tp->dirty = 1;
    }

    if (until != 0) {
        prt->stats->explore_until_ms = until;
    }
}


/*
 * The master outlives every other process: when it exits (quit or stop,
 * never on reload) nobody else writes any more, so it learns what the
 * ring still holds, finalises outcomes still waiting for feedback with
 * their proxies, and writes the state file a last time.
 */

void
ngx_http_llmopt_trainer_exit_master(ngx_cycle_t *cycle,
    ngx_http_llmopt_main_conf_t *lmcf)
{
    unsigned          n;
    llmopt_event_t    out[32];
    llmopt_trainer_t *t;

    if (lmcf->state_file.len == 0 || lmcf->sh == NULL
        || lmcf->sh->ring == NULL)
    {
        return;
    }

    if (lmcf->tpolicies == NULL
        && ngx_http_llmopt_trainer_prepare(cycle, lmcf) != NGX_OK)
    {
        return;
    }

    t = &lmcf->trainer;

    llmopt_trainer_init(t, lmcf->sh->ring, lmcf->catalog.version,
                        lmcf->tpolicies, lmcf->policies.nelts);

    if (lmcf->redis != NULL) {
        /* the state file holds what this instance learned, unmerged */
        ngx_http_llmopt_redis_lease(lmcf);
    }

    while (llmopt_trainer_drain(t, NGX_HTTP_LLMOPT_TRAINER_BATCH, 0)
           == NGX_HTTP_LLMOPT_TRAINER_BATCH)
    { /* void */ }

    if (lmcf->sh->pending != NULL) {
        do {
            n = llmopt_pending_expire(lmcf->sh->pending, UINT64_MAX, out, 32);

            while (n--) {
                (void) llmopt_trainer_learn(t, &out[n], NULL);
            }

        } while (llmopt_pending_count(lmcf->sh->pending));
    }

    (void) llmopt_trainer_publish(t);

    (void) ngx_http_llmopt_state_checkpoint(lmcf, ngx_http_llmopt_wall_ms(),
                                      cycle->log);
}


/* A worker trainer's last words: learn what is left, publish, save. */

void
ngx_http_llmopt_trainer_exit_process(ngx_cycle_t *cycle,
    ngx_http_llmopt_main_conf_t *lmcf)
{
    uint64_t  now;

    if (lmcf->driver != NGX_HTTP_LLMOPT_DRIVER_WORKER || !lmcf->leased
        || lmcf->sh == NULL
        || lmcf->sh->trainer.lease_pid != (ngx_atomic_uint_t) ngx_pid)
    {
        return;
    }

    ngx_http_llmopt_trainer_tick(lmcf, cycle->log);

    now = ngx_http_llmopt_wall_ms();

    if (lmcf->state_file.len
        && lmcf->trainer.updates != lmcf->checkpoint_updates)
    {
        (void) ngx_http_llmopt_state_checkpoint(lmcf, now, cycle->log);
    }

    ngx_http_llmopt_release(lmcf);
}


static ngx_msec_t
ngx_http_llmopt_trainer_manager(void *data)
{
    ngx_http_llmopt_main_conf_t *lmcf = data;

    if (lmcf->driver == NGX_HTTP_LLMOPT_DRIVER_HELPER) {
        ngx_http_llmopt_trainer_tick(lmcf, ngx_cycle->log);
    }

    return lmcf->trainer_interval;
}


static void
ngx_http_llmopt_trainer_timer(ngx_event_t *ev)
{
    ngx_http_llmopt_main_conf_t *lmcf = ev->data;

    if (ngx_exiting || ngx_terminate || ngx_quit) {
        return;
    }

    ngx_http_llmopt_trainer_tick(lmcf, ev->log);

    ngx_add_timer(ev, lmcf->trainer_interval);
}


static void
ngx_http_llmopt_trainer_tick(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_log_t *log)
{
    uint64_t                      now, start, deadline, us;
    uint64_t                      events, updates, declined, stale;
    ngx_uint_t                    n;
    llmopt_trainer_t             *t;
    ngx_http_llmopt_shctx_t      *sh;
    ngx_http_llmopt_shtrainer_t  *st;

    sh = lmcf->sh;

    if (sh == NULL || sh->ring == NULL || lmcf->tpolicies == NULL) {
        return;
    }

    st = &sh->trainer;
    now = ngx_http_llmopt_wall_ms();

    if (ngx_http_llmopt_lease(lmcf, now, log) != NGX_OK) {
        return;
    }

    t = &lmcf->trainer;

    if (!lmcf->leased) {
        /* just became the writer: start from what is published */
        llmopt_trainer_init(t, sh->ring, lmcf->catalog.version,
                            lmcf->tpolicies, lmcf->policies.nelts);

        if (lmcf->redis != NULL) {
            ngx_http_llmopt_redis_lease(lmcf);
        }

        t->learned = ngx_http_llmopt_learned;
        t->learned_data = lmcf;

        lmcf->checkpoint_updates = (uint64_t) -1;   /* save once anyway */
        lmcf->leased = 1;
    }

    start = ngx_http_llmopt_now_ns();
    deadline = start + (uint64_t) lmcf->trainer_budget * 1000000;

    events = t->events;
    updates = t->updates;
    declined = t->declined;
    stale = t->stale;

    do {
        n = llmopt_trainer_drain(t, NGX_HTTP_LLMOPT_TRAINER_BATCH, now);
    } while (n == NGX_HTTP_LLMOPT_TRAINER_BATCH
             && ngx_http_llmopt_now_ns() < deadline);

    if (sh->pending != NULL) {
        ngx_http_llmopt_expire(lmcf, now, deadline);
    }

    if (lmcf->redis != NULL) {
        ngx_http_llmopt_redis_tick(lmcf, now, log);
        ngx_http_llmopt_redis_keep(lmcf);
    }

    (void) llmopt_trainer_publish(t);

    (void) ngx_atomic_fetch_add(&st->ticks, 1);
    (void) ngx_atomic_fetch_add(&st->events, t->events - events);
    (void) ngx_atomic_fetch_add(&st->updates, t->updates - updates);
    (void) ngx_atomic_fetch_add(&st->declined, t->declined - declined);
    (void) ngx_atomic_fetch_add(&st->stale, t->stale - stale);

    st->lag_ms = t->lag_ms;
    t->lag_ms = 0;

    if (now >= st->rate_ms + NGX_HTTP_LLMOPT_FINE_MS) {
        if (st->rate_ms) {
            st->updates_per_ks = (st->updates - st->rate_updates) * 1000000
                                 / (now - st->rate_ms);
            st->events_per_ks = (st->events - st->rate_events) * 1000000
                                / (now - st->rate_ms);
        }

        st->rate_ms = now;
        st->rate_updates = st->updates;
        st->rate_events = st->events;
    }

    ngx_http_llmopt_drift_flush(lmcf);
    ngx_http_llmopt_history_tick(lmcf, now);
    ngx_http_llmopt_slo(lmcf);

    us = (ngx_http_llmopt_now_ns() - start) / 1000;

    if (us > st->tick_us_max) {
        st->tick_us_max = us;
    }

    if (lmcf->state_file.len
        && now >= lmcf->checkpoint_ms + lmcf->state_interval
        && t->updates != lmcf->checkpoint_updates)
    {
        (void) ngx_http_llmopt_state_checkpoint(lmcf, now, log);
    }
}


/*
 * The lease: this process writes only while the zone names it.  A free
 * lease, a dead owner or one silent for NGX_HTTP_LLMOPT_LEASE_STALE_MS is
 * taken over.
 */

static ngx_int_t
ngx_http_llmopt_lease(ngx_http_llmopt_main_conf_t *lmcf, uint64_t now,
    ngx_log_t *log)
{
    ngx_pid_t                     owner;
    uint64_t                      beat;
    ngx_http_llmopt_shtrainer_t  *st;

    st = &lmcf->sh->trainer;

    owner = (ngx_pid_t) st->lease_pid;

    if (owner == ngx_pid) {
        st->heartbeat_ms = now;
        return NGX_OK;
    }

    lmcf->leased = 0;

    beat = st->heartbeat_ms;

    if (owner != 0
        && now < beat + NGX_HTTP_LLMOPT_LEASE_STALE_MS
        && !(kill(owner, 0) == -1 && ngx_errno == NGX_ESRCH))
    {
        return NGX_DECLINED;            /* a live writer */
    }

    if (!ngx_atomic_cmp_set(&st->lease_pid, (ngx_atomic_uint_t) owner,
                            (ngx_atomic_uint_t) ngx_pid))
    {
        return NGX_DECLINED;
    }

    st->heartbeat_ms = now;
    st->driver = lmcf->driver;

    if (owner != 0) {
        (void) ngx_atomic_fetch_add(&st->takeovers, 1);

        ngx_log_error(NGX_LOG_NOTICE, log, 0,
                      "llmopt trainer: lease taken over from process %P",
                      owner);

    } else {
        ngx_log_error(NGX_LOG_INFO, log, 0,
                      "llmopt trainer: lease taken, driver=%s",
                      lmcf->driver == NGX_HTTP_LLMOPT_DRIVER_HELPER
                      ? "helper" : "worker");
    }

    return NGX_OK;
}


static void
ngx_http_llmopt_release(ngx_http_llmopt_main_conf_t *lmcf)
{
    (void) ngx_atomic_cmp_set(&lmcf->sh->trainer.lease_pid,
                              (ngx_atomic_uint_t) ngx_pid, 0);
    lmcf->leased = 0;
}


/* Outcomes whose feedback wait ended are learned with their proxies. */

static void
ngx_http_llmopt_expire(ngx_http_llmopt_main_conf_t *lmcf, uint64_t now,
    uint64_t deadline)
{
    unsigned         i, n;
    llmopt_event_t   out[32];
    llmopt_event_t  *ev;

    do {
        ngx_shmtx_lock(&lmcf->shpool->mutex);
        n = llmopt_pending_expire(lmcf->sh->pending, now, out, 32);
        ngx_shmtx_unlock(&lmcf->shpool->mutex);

        for (i = 0; i < n; i++) {
            ev = &out[i];
            (void) llmopt_trainer_learn(&lmcf->trainer, ev, NULL);
        }

        (void) ngx_atomic_fetch_add(&lmcf->sh->trainer.expired, n);

    } while (n == 32 && ngx_http_llmopt_now_ns() < deadline);
}
