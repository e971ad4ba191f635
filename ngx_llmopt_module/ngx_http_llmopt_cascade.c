
/*
 * Copyright (C) llmopt authors
 *
 * A policy's cascade (docs/CASCADE.md) for a client that does not stream:
 * the main request goes upstream no more itself; each tier's attempt is
 * an in-memory subrequest to the same location (a clone: its proxy_pass
 * and $llmopt_upstream) with a context of its own, the client's body
 * rewritten for the tier's arm and its headers.  When an attempt ends its
 * answer is read (text, finish reason, usage), judged by the tier's
 * acceptance model in the zone (llmopt_cascade_decide()), and either sent
 * to the client or the request goes on to the next tier; the escalated
 * answer is labelled by the next one under the tier's extractor.  Every
 * attempt is an outcome of its arm (counted, charged, learned).
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "llmopt_cascade.h"
#include "llmopt_rewrite.h"

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_budget.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_outcome.h"
#include "ngx_http_llmopt_request.h"
#include "ngx_http_llmopt_rewrite.h"
#include "ngx_http_llmopt_cascade_body.h"
#include "ngx_http_llmopt_cascade.h"


#define NGX_HTTP_LLMOPT_CASCADE_LIST  1024    /* bytes of the tiers' list */


/* An attempt's answer, once it ended. */

typedef struct {
    ngx_http_request_t           *sr;
    ngx_http_llmopt_ctx_t        *sctx;
    ngx_uint_t                    tier;
    ngx_uint_t                    status;
    ngx_buf_t                    *body;          /* NULL: none */
    u_char                       *text;          /* NULL: none */
    size_t                        len;
    double                        x[LLMOPT_CASCADE_DIM];
} ngx_http_llmopt_attempt_t;


struct ngx_http_llmopt_cascade_s {
    ngx_http_request_t           *r;
    ngx_http_llmopt_ctx_t        *ctx;           /* the main request's */
    ngx_http_request_t           *sr;            /* the attempt under way */
    ngx_http_llmopt_ctx_t        *sctx;
    ngx_http_request_t           *sr2;           /* a pair's second arm */
    ngx_http_llmopt_ctx_t        *sctx2;
    ngx_uint_t                    tier;
    ngx_uint_t                    tried;
    double                        spent;         /* USD, every attempt */
    unsigned                      done:1;        /* the attempt ended */
    unsigned                      done2:1;       /*   its second arm too */
    unsigned                      pair:1;        /* a pair's two arms */
    unsigned                      over:1;        /* answered, or gone */
    unsigned                      reserved:1;    /* the budget's hold */
    unsigned                      has_prev:1;
    unsigned                      read_request:1;
    unsigned                      client_logprobs:1;  /* the client asked */
    llmopt_cascade_format_e       format;        /* the prompt asks */
    ngx_http_llmopt_attempt_t     prev;          /* escalated, unsettled */
    ngx_str_t                     names;         /* X-LLMOpt-Tiers */
    ngx_str_t                     costs;         /* $llmopt_tiers */
    u_char                        names_buf[NGX_HTTP_LLMOPT_CASCADE_LIST];
    u_char                        costs_buf[NGX_HTTP_LLMOPT_CASCADE_LIST];
};


static ngx_int_t ngx_http_llmopt_cascade_attempt(
    ngx_http_llmopt_cascade_t *cs, ngx_uint_t tier);
static ngx_int_t ngx_http_llmopt_cascade_sub(ngx_http_llmopt_cascade_t *cs,
    ngx_uint_t tier, ngx_uint_t arm, ngx_uint_t second);
static ngx_uint_t ngx_http_llmopt_cascade_logprobs(
    ngx_http_llmopt_cascade_t *cs, ngx_uint_t tier);
static ngx_uint_t ngx_http_llmopt_cascade_arm(ngx_http_llmopt_cascade_t *cs,
    ngx_uint_t tier);
static ngx_int_t ngx_http_llmopt_cascade_done(ngx_http_request_t *sr,
    void *data, ngx_int_t rc);
static void ngx_http_llmopt_cascade_wake(ngx_http_request_t *r);
static void ngx_http_llmopt_cascade_read(ngx_http_llmopt_cascade_t *cs,
    ngx_http_llmopt_attempt_t *a, ngx_http_llmopt_attempt_t *other);
static void ngx_http_llmopt_cascade_judge(ngx_http_llmopt_cascade_t *cs,
    ngx_http_llmopt_attempt_t *a, llmopt_cascade_decision_t *dec);
static void ngx_http_llmopt_cascade_label(ngx_http_llmopt_cascade_t *cs,
    ngx_http_llmopt_attempt_t *a);
static void ngx_http_llmopt_cascade_serve(ngx_http_llmopt_cascade_t *cs,
    ngx_http_llmopt_attempt_t *a);
static void ngx_http_llmopt_cascade_list(ngx_http_llmopt_cascade_t *cs,
    ngx_http_llmopt_ctx_t *sctx);
static void ngx_http_llmopt_cascade_cleanup(void *data);


ngx_int_t
ngx_http_llmopt_cascade_start(ngx_http_request_t *r,
    ngx_http_llmopt_ctx_t *ctx)
{
    ngx_int_t                     rc;
    ngx_uint_t                    t, i;
    ngx_pool_cleanup_t           *cln;
    const llmopt_model_t         *model;
    ngx_http_llmopt_main_conf_t  *lmcf;
    ngx_http_llmopt_cascade_t  *cs;
    const llmopt_policy_t      *policy;

    policy = ctx->policy->policy;

    if (policy->cascade.n_tiers == 0 || ctx->stream || ctx->shadow
        || ctx->pinned || ctx->passthrough)
    {
        return NGX_DECLINED;
    }

    /* an arm of the other dialect needs translation, not done through a
       cascade yet: such a policy is routed as without one */

    lmcf = ngx_http_get_module_main_conf(r, ngx_http_llmopt_module);

    for (t = 0; t < policy->cascade.n_tiers; t++) {
        for (i = 0; i < policy->cascade.tiers[t].n_arms; i++) {
            model = &lmcf->catalog.models[
                        policy->arms[policy->cascade.tiers[t].arms[i]].model];

            if (llmopt_model_dialect(model, ctx->dialect) != ctx->dialect) {
                return NGX_DECLINED;
            }
        }
    }

    cs = ngx_pcalloc(r->pool, sizeof(ngx_http_llmopt_cascade_t));
    if (cs == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cln = ngx_pool_cleanup_add(r->pool, 0);
    if (cln == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    cs->r = r;
    cs->ctx = ctx;
    cs->names.data = cs->names_buf;
    cs->costs.data = cs->costs_buf;

    /* the attempts carry the budget's reservation: the served one (or the
       last one) gives it back */
    cs->reserved = ctx->budgeted;
    ctx->budgeted = 0;

    /* the main request is no outcome of its own */
    ctx->logged = 1;
    ctx->cascade = cs;

    cln->handler = ngx_http_llmopt_cascade_cleanup;
    cln->data = cs;

    for (t = 0; t + 1 < policy->cascade.n_tiers; t++) {
        if (!ngx_http_llmopt_cascade_skip(ctx->policy, t,
                                          ngx_http_llmopt_wall_ms()))
        {
            break;
        }
    }

    rc = ngx_http_llmopt_cascade_attempt(cs, t);

    if (rc != NGX_OK) {
        ctx->cascade = NULL;
        ctx->logged = 0;
        ctx->budgeted = cs->reserved;
        cs->reserved = 0;
        return rc;
    }

    r->write_event_handler = ngx_http_llmopt_cascade_wake;

    return NGX_OK;
}


/* The attempt of tier: one subrequest, or a pair's two in parallel. */

static ngx_int_t
ngx_http_llmopt_cascade_attempt(ngx_http_llmopt_cascade_t *cs,
    ngx_uint_t tier)
{
    ngx_int_t             rc;
    const llmopt_tier_t  *t;

    t = &cs->ctx->policy->policy->cascade.tiers[tier];

    cs->sr2 = NULL;
    cs->sctx2 = NULL;
    cs->done2 = 0;
    cs->pair = 0;

    rc = ngx_http_llmopt_cascade_sub(cs, tier,
                                     ngx_http_llmopt_cascade_arm(cs, tier), 0);

    if (rc != NGX_OK || t->kind != LLMOPT_TIER_PAIR) {
        return rc;
    }

    /* the second one that cannot start leaves the first alone */
    cs->pair = (ngx_http_llmopt_cascade_sub(cs, tier, t->arms[1], 1)
                == NGX_OK);

    return NGX_OK;
}


/*
 * A subrequest of tier for arm: a clone of r to its own location, in
 * memory, with a context of its own (the main one's decision, this arm)
 * and its body and headers for the arm.  The second of a pair holds no
 * share of the budget's reservation.
 */

static ngx_int_t
ngx_http_llmopt_cascade_sub(ngx_http_llmopt_cascade_t *cs, ngx_uint_t tier,
    ngx_uint_t arm, ngx_uint_t second)
{
    ngx_int_t                     rc;
    llmopt_request_t              req;
    ngx_http_request_t           *r, *sr;
    ngx_http_llmopt_ctx_t        *ctx, *sctx;
    ngx_http_post_subrequest_t   *ps;

    r = cs->r;
    ctx = cs->ctx;

    ps = ngx_palloc(r->pool, sizeof(ngx_http_post_subrequest_t));
    if (ps == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ps->handler = ngx_http_llmopt_cascade_done;
    ps->data = cs;

    if (ngx_http_subrequest(r, &r->uri, &r->args, &sr, ps,
                            NGX_HTTP_SUBREQUEST_IN_MEMORY
                            | NGX_HTTP_SUBREQUEST_WAITED
                            | NGX_HTTP_SUBREQUEST_CLONE)
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    sctx = ngx_http_llmopt_create_ctx(sr);
    if (sctx == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    /* the decision as the main request made it, for this tier's arm */

    ngx_memcpy(sctx, ctx, sizeof(ngx_http_llmopt_ctx_t));

    sctx->cascade = NULL;
    sctx->out = NULL;
    sctx->usage = NULL;
    sctx->hold = NULL;
    sctx->held = 0;
    sctx->strip = 0;
    sctx->logged = 0;
    sctx->settled = 0;
    sctx->filtering = 0;
    sctx->body_done = 0;
    sctx->body_sent = 0;
    sctx->draining = 0;
    ngx_memzero(&sctx->drain_event, sizeof(ngx_event_t));
    sctx->budgeted = cs->reserved;
    sctx->start_ns = ngx_http_llmopt_now_ns();
    sctx->start_ms = ngx_http_llmopt_wall_ms();
    sctx->ttft_ms = -1;
    sctx->cost = -1;
    sctx->reward = -1;
    sctx->kept = 0;
    sctx->too_big = 0;

    if (arm != ctx->arm) {
        /* the cascade's order chose it, not the bandit */
        sctx->arm = arm;
        sctx->propensity = 1;
        sctx->explore = 0;
        sctx->probe = 0;
    }

    sr->request_body = ngx_pcalloc(r->pool, sizeof(ngx_http_request_body_t));
    if (sr->request_body == NULL) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    rc = ngx_http_llmopt_parse(sr, sctx, &req, ctx->body, ctx->body_len);
    if (rc != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (!cs->read_request) {
        /* what the client asked: log-probabilities, a format */
        cs->read_request = 1;
        cs->client_logprobs = ngx_http_llmopt_cascade_asked(&req);
        cs->format = req.prompt.end > req.prompt.start
                     ? llmopt_cascade_format_asked(
                           (const char *) ctx->body + req.prompt.start,
                           req.prompt.end - req.prompt.start)
                     : LLMOPT_CASCADE_FORMAT_NONE;
    }

    if (ngx_http_llmopt_cascade_logprobs(cs, tier)) {
        rc = ngx_http_llmopt_cascade_rewrite(sr, sctx, &req,
                                             &ctx->policy->arms[arm]);

    } else {
        rc = ngx_http_llmopt_rewrite(sr, sctx, &req);
    }

    if (rc != NGX_OK) {
        return rc;
    }

    if (ngx_http_llmopt_set_headers(sr, sctx, &ctx->policy->arms[arm])
        != NGX_OK)
    {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    if (second) {
        sctx->budget_est = 0;
        cs->sr2 = sr;
        cs->sctx2 = sctx;
        return NGX_OK;
    }

    cs->sr = sr;
    cs->sctx = sctx;
    cs->tier = tier;
    cs->tried++;
    cs->done = 0;

    ngx_log_debug2(NGX_LOG_DEBUG_HTTP, r->connection->log, 0,
                   "llmopt: cascade tier %ui, arm \"%V\"", tier,
                   &ctx->policy->arms[arm].name);

    return NGX_OK;
}


/* 1 when tier asks its arms for log-probabilities (OpenAI's alone). */

static ngx_uint_t
ngx_http_llmopt_cascade_logprobs(ngx_http_llmopt_cascade_t *cs,
    ngx_uint_t tier)
{
    return cs->ctx->policy->policy->cascade.tiers[tier].logprobs
           && cs->ctx->dialect == LLMOPT_DIALECT_OPENAI;
}


/* The arm of tier: its own, the bandit's when it chose one of the set,
   the pair's first. */

static ngx_uint_t
ngx_http_llmopt_cascade_arm(ngx_http_llmopt_cascade_t *cs, ngx_uint_t tier)
{
    ngx_uint_t            i;
    const llmopt_tier_t  *t;

    t = &cs->ctx->policy->policy->cascade.tiers[tier];

    if (t->kind == LLMOPT_TIER_ARMS) {
        for (i = 0; i < t->n_arms; i++) {
            if (t->arms[i] == cs->ctx->arm) {
                return cs->ctx->arm;
            }
        }
    }

    return t->arms[0];
}


/*
 * The attempt ended (any number of calls for one subrequest: the first
 * counts).  Its status is kept; an error status is no error page of the
 * subrequest, the cascade answers.  A client that left ends the cascade
 * here: the attempt is charged, the request terminated.
 */

static ngx_int_t
ngx_http_llmopt_cascade_done(ngx_http_request_t *sr, void *data,
    ngx_int_t rc)
{
    ngx_http_llmopt_cascade_t  *cs = data;

    if (cs->over) {
        return rc;
    }

    if (cs->sr2 == sr && !cs->done2) {
        cs->done2 = 1;

    } else if (cs->sr == sr && !cs->done) {
        cs->done = 1;

    } else {
        return rc;
    }

    if (sr->headers_out.status == 0 && rc >= NGX_HTTP_SPECIAL_RESPONSE) {
        sr->headers_out.status = rc;
    }

    if (sr->connection->error || rc == NGX_HTTP_CLIENT_CLOSED_REQUEST) {
        cs->over = 1;

        if (cs->has_prev) {
            ngx_http_llmopt_attempt_failed(cs->prev.sr, cs->prev.sctx);
            cs->has_prev = 0;
        }

        /* each attempt under way is charged: nginx ends them all now */
        ngx_http_llmopt_cascade_list(cs, cs->sctx);
        ngx_http_llmopt_outcome(cs->sr, cs->sctx);

        if (cs->pair) {
            ngx_http_llmopt_cascade_list(cs, cs->sctx2);
            ngx_http_llmopt_outcome(cs->sr2, cs->sctx2);
        }

        cs->reserved = 0;

        return rc;
    }

    return NGX_OK;
}


/* The main request, woken when its attempt ended. */

static void
ngx_http_llmopt_cascade_wake(ngx_http_request_t *r)
{
    ngx_uint_t                    good;
    ngx_http_llmopt_ctx_t        *ctx;
    ngx_http_llmopt_cascade_t    *cs;
    ngx_http_llmopt_attempt_t     a, a2;
    llmopt_cascade_decision_t     dec;

    ctx = ngx_http_get_module_ctx(r, ngx_http_llmopt_module);
    cs = ctx != NULL ? ctx->cascade : NULL;

    if (cs == NULL || !cs->done || (cs->pair && !cs->done2) || cs->over) {
        return;
    }

    if (r->postponed != NULL) {
        /* a pair's second ended while not the active one: it ends for
           good once woken, and wakes r again */
        (void) ngx_http_output_filter(r, NULL);
        return;
    }

    ngx_memzero(&a, sizeof(ngx_http_llmopt_attempt_t));
    a.sr = cs->sr;
    a.sctx = cs->sctx;
    a.tier = cs->tier;

    if (cs->pair) {
        ngx_memzero(&a2, sizeof(ngx_http_llmopt_attempt_t));
        a2.sr = cs->sr2;
        a2.sctx = cs->sctx2;
        a2.tier = cs->tier;

        ngx_http_llmopt_cascade_read(cs, &a2, NULL);
        ngx_http_llmopt_settle(a2.sr, a2.sctx);

        if (a2.sctx->cost > 0) {
            cs->spent += a2.sctx->cost;
        }
    }

    ngx_http_llmopt_cascade_read(cs, &a, cs->pair ? &a2 : NULL);

    /* its cost and latency, before it is judged */
    ngx_http_llmopt_settle(a.sr, a.sctx);

    if (a.sctx->cost > 0) {
        cs->spent += a.sctx->cost;
    }

    ngx_http_llmopt_cascade_list(cs, a.sctx);

    if (cs->pair) {
        /* judged by the first's answer and their agreement; the second is
           an outcome of its own, never served */
        ngx_http_llmopt_cascade_list(cs, a2.sctx);
        ngx_http_llmopt_attempt_failed(a2.sr, a2.sctx);
        cs->pair = 0;
    }
    good = a.status >= 200 && a.status < 300 && a.text != NULL;

    if (good && cs->has_prev) {
        /* the next tier's answer labels the escalated one */
        ngx_http_llmopt_cascade_label(cs, &a);
    }

    if (!good && cs->has_prev) {
        /* the best answer so far is the escalated one */
        ngx_http_llmopt_attempt_failed(a.sr, a.sctx);
        a = cs->prev;
        cs->has_prev = 0;
        ngx_http_llmopt_cascade_serve(cs, &a);
        return;
    }

    ngx_http_llmopt_cascade_judge(cs, &a, &dec);

    if (dec.escalate
        && ngx_http_llmopt_cascade_attempt(cs, dec.next) == NGX_OK)
    {
        if (cs->has_prev) {
            ngx_http_llmopt_attempt_failed(cs->prev.sr, cs->prev.sctx);
        }

        ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                      "llmopt: policy \"%V\": cascade tier %ui (arm \"%V\") "
                      "%s, p_good %.3f, threshold %.3f: to tier %ui",
                      &ctx->policy->name, a.tier,
                      &ctx->policy->arms[a.sctx->arm].name,
                      llmopt_cascade_why_name(dec.why), dec.p_good,
                      dec.threshold, dec.next);

        if (good) {
            cs->prev = a;
            cs->has_prev = 1;

        } else {
            ngx_http_llmopt_attempt_failed(a.sr, a.sctx);
            cs->has_prev = 0;
        }

        return;
    }

    if (cs->has_prev) {
        ngx_http_llmopt_attempt_failed(cs->prev.sr, cs->prev.sctx);
        cs->has_prev = 0;
    }

    ngx_http_llmopt_cascade_serve(cs, &a);
}


/*
 * The attempt's status, its body in memory, its usage (scanned whole) and
 * its text, its signals (with other's text, a pair's second answer, read
 * first); an answer that did not fit the subrequest's buffer has no
 * body ("too big subrequest response") and counts as none.
 */

static void
ngx_http_llmopt_cascade_read(ngx_http_llmopt_cascade_t *cs,
    ngx_http_llmopt_attempt_t *a, ngx_http_llmopt_attempt_t *other)
{
    int                           t;
    size_t                        len;
    unsigned                      count;
    ngx_buf_t                    *b;
    llmopt_err_t                  err;
    llmopt_json_tok_t            *toks;
    llmopt_usage_out_t            res;
    llmopt_cascade_answer_t       ans;
    ngx_http_llmopt_ctx_t        *sctx;
    ngx_http_llmopt_main_conf_t  *lmcf;

    sctx = a->sctx;
    a->status = a->sr->headers_out.status;

    sctx->usage = &sctx->usage_mem;
    llmopt_usage_init(sctx->usage, sctx->dialect, 0, 0);

    b = a->sr->out != NULL ? a->sr->out->buf : NULL;

    if (sctx->too_big) {
        ngx_log_error(NGX_LOG_WARN, a->sr->connection->log, 0,
                      "llmopt: policy \"%V\": the answer of arm \"%V\" is "
                      "larger than subrequest_output_buffer_size, it cannot "
                      "be judged or served", &sctx->policy->name,
                      &sctx->policy->arms[sctx->arm].name);
        b = NULL;
    }

    if (b == NULL || b->last == b->pos) {
        (void) llmopt_usage_finish(sctx->usage, &res);
        return;
    }

    a->body = b;
    len = b->last - b->pos;

    (void) llmopt_usage_feed(sctx->usage, b->pos, len, &res);
    (void) llmopt_usage_finish(sctx->usage, &res);

    sctx->ttft_ms = (double) (ngx_http_llmopt_now_ns() - sctx->start_ns)
                    / 1e6;

    lmcf = ngx_http_get_module_main_conf(a->sr, ngx_http_llmopt_module);
    ngx_memzero(&err, sizeof(llmopt_err_t));
    toks = lmcf->toks;

    t = llmopt_json_parse(b->pos, len, toks, lmcf->ntoks, 0, &count, &err);

    if (t == LLMOPT_AGAIN) {
        toks = ngx_palloc(a->sr->pool, count * sizeof(llmopt_json_tok_t));
        if (toks == NULL) {
            return;
        }

        t = llmopt_json_parse(b->pos, len, toks, count, 0, &count, &err);
    }

    if (t != LLMOPT_OK) {
        return;
    }

    t = llmopt_cascade_answer_text(sctx->dialect, b->pos, toks, count);

    if (t < 0) {
        return;
    }

    a->text = ngx_pnalloc(a->sr->pool, toks[t].end - toks[t].start + 1);
    if (a->text == NULL) {
        return;
    }

    a->len = llmopt_json_unescape(a->text, b->pos, &toks[t]);

    ngx_memzero(&ans, sizeof(llmopt_cascade_answer_t));
    ans.text = (const char *) a->text;
    ans.len = a->len;
    ans.finish = sctx->usage->finish;
    ans.tokens = (uint32_t) ngx_min(sctx->usage->output_tokens, 0xffffffff);
    ans.format = cs->format;

    if (ngx_http_llmopt_cascade_logprobs(cs, a->tier)) {
        ans.has_logprobs = llmopt_cascade_answer_logprobs(b->pos, toks,
                                                          count,
                                                          &ans.logprob_mean,
                                                          &ans.logprob_min)
                           > 0;

        if (!cs->client_logprobs) {
            /* asked by llmopt: not the client's to see */
            a->body = ngx_http_llmopt_cascade_strip(a->sr->pool, a->body,
                                                    toks, count);
        }
    }
    ans.request = cs->ctx->x;
    ans.request_d = (unsigned) cs->ctx->d;

    if (other != NULL && other->text != NULL) {
        ans.other = (const char *) other->text;
        ans.other_len = other->len;

    } else if (other != NULL) {
        /* the pair's second gave nothing: nothing agrees with that */
        ans.other = "";
        ans.other_len = 0;
    }

    llmopt_cascade_signals(ngx_http_llmopt_cascade_extractor(a->sr,
                               cs->ctx->policy, a->tier),
                           &ans, a->x);
}


/*
 * Accept or escalate a: the tier's model as the zone has it (a copy:
 * only the trainer and the labels below write it), the tiers' expected
 * quality (their arms' scored answers, 1 before any), cost and latency
 * (their arms' means so far), the bounds.  An answer without text is
 * escalated wherever a tier can take it.
 */

static void
ngx_http_llmopt_cascade_judge(ngx_http_llmopt_cascade_t *cs,
    ngx_http_llmopt_attempt_t *a, llmopt_cascade_decision_t *dec)
{
    uint64_t                      now;
    ngx_uint_t                    i, j, n;
    llmopt_cascade_model_t        m, *zm;
    llmopt_cascade_input_t        in;
    llmopt_cascade_tier_t         tiers[LLMOPT_CASCADE_MAX_TIERS];
    const llmopt_tier_t          *t;
    const llmopt_arm_tally_t     *tally;
    ngx_http_llmopt_policy_rt_t  *prt;
    ngx_http_llmopt_arm_stats_t  *as;
    const llmopt_model_t         *model;
    const llmopt_policy_cascade_t  *pc;
    ngx_http_llmopt_main_conf_t  *lmcf;

    lmcf = ngx_http_get_module_main_conf(cs->r, ngx_http_llmopt_module);
    prt = cs->ctx->policy;
    pc = &prt->policy->cascade;
    now = ngx_http_llmopt_wall_ms();

    for (i = 0; i < pc->n_tiers; i++) {
        t = &pc->tiers[i];
        tiers[i].quality = 0;
        tiers[i].cost = 0;
        tiers[i].latency_ms = 0;
        tiers[i].skip = ngx_http_llmopt_cascade_skip(prt, i, now);

        for (j = 0; j < t->n_arms; j++) {
            as = &prt->stats->arms[t->arms[j]];
            tally = &prt->stats->tally[t->arms[j]];
            n = as->outcomes;

            tiers[i].quality += tally->scored > 0
                                ? tally->quality_sum / tally->scored : 1;

            if (n) {
                tiers[i].cost += (double) as->cost_nusd / 1e9 / n;
                tiers[i].latency_ms += (double) as->latency_sum_us / 1e3 / n;

            } else {
                /* before its first answer: its list price for the
                   prompt's estimated tokens, as many out */
                model = &lmcf->catalog.models[
                            prt->policy->arms[t->arms[j]].model];
                tiers[i].cost += llmopt_model_cost(model,
                                                   cs->ctx->input_est, 0,
                                                   cs->ctx->input_est);
            }
        }

        tiers[i].quality /= t->n_arms;
        tiers[i].latency_ms /= t->n_arms;

        if (t->kind != LLMOPT_TIER_PAIR) {
            tiers[i].cost /= t->n_arms;
        }
    }

    ngx_memzero(&in, sizeof(llmopt_cascade_input_t));
    in.tier = (unsigned) a->tier;
    in.n_tiers = pc->n_tiers;
    in.tiers = tiers;
    in.tried = (unsigned) cs->tried;
    in.spent = cs->spent;
    in.elapsed_ms = (double) (ngx_http_llmopt_now_ns() - cs->ctx->start_ns)
                    / 1e6;

    if (a->text == NULL) {
        /* nothing to judge: to the next tier that can take it, if any */
        ngx_memzero(dec, sizeof(llmopt_cascade_decision_t));
        dec->propensity = 1;
        dec->threshold = -1;
        dec->reward_escalate = -1;
        dec->why = LLMOPT_CASCADE_WHY_LAST_TIER;

        if (cs->tried >= pc->conf.max_tiers) {
            dec->why = LLMOPT_CASCADE_WHY_MAX_TIERS;
            return;
        }

        if (pc->conf.time_budget_ms > 0
            && in.elapsed_ms >= pc->conf.time_budget_ms)
        {
            dec->why = LLMOPT_CASCADE_WHY_TIME;
            return;
        }

        for (i = a->tier + 1; i < pc->n_tiers; i++) {
            if (!tiers[i].skip) {
                dec->escalate = 1;
                dec->next = (unsigned) i;
                dec->why = LLMOPT_CASCADE_WHY_ESCALATE;
                return;
            }
        }

        return;
    }

    if (prt->stats->cascade == NULL) {
        /* the zone has none (a reload failed to make it): the cold model */
        ngx_memzero(&m, sizeof(llmopt_cascade_model_t));
        llmopt_cascade_decide(&m, &pc->conf, &prt->policy->reward, &in, a->x,
                              &prt->rng, dec);
        return;
    }

    zm = &prt->stats->cascade[a->tier];
    ngx_memcpy(&m, zm, sizeof(llmopt_cascade_model_t));

    llmopt_cascade_decide(&m, &pc->conf, &prt->policy->reward, &in, a->x,
                          &prt->rng, dec);

    (void) __atomic_fetch_add(&zm->decisions, 1, __ATOMIC_RELAXED);
}


/*
 * The escalated answer's label: 1 when a, the next tier's answer, agrees
 * with it under its tier's extractor, else 0; one step of the tier's model
 * in the zone, under the zone's lock.
 */

static void
ngx_http_llmopt_cascade_label(ngx_http_llmopt_cascade_t *cs,
    ngx_http_llmopt_attempt_t *a)
{
    int                           y;
    ngx_http_llmopt_attempt_t    *p;
    ngx_http_llmopt_policy_rt_t  *prt;
    ngx_http_llmopt_main_conf_t  *lmcf;

    p = &cs->prev;
    prt = cs->ctx->policy;
    lmcf = ngx_http_get_module_main_conf(cs->r, ngx_http_llmopt_module);

    if (prt->stats->cascade == NULL) {
        return;
    }

    y = llmopt_cascade_agree(ngx_http_llmopt_cascade_extractor(cs->r, prt,
                                                               p->tier),
                             (const char *) p->text, p->len,
                             (const char *) a->text, a->len);

    ngx_shmtx_lock(&lmcf->shpool->mutex);

    (void) llmopt_cascade_learn(&prt->stats->cascade[p->tier],
                                &prt->policy->cascade.conf, p->x, y, 1);

    ngx_shmtx_unlock(&lmcf->shpool->mutex);
}


/* a goes to the client: its status, type and body, the tiers tried. */

static void
ngx_http_llmopt_cascade_serve(ngx_http_llmopt_cascade_t *cs,
    ngx_http_llmopt_attempt_t *a)
{
    ngx_int_t               rc;
    ngx_str_t               type;
    ngx_buf_t              *b;
    ngx_http_request_t     *r;
    ngx_http_llmopt_ctx_t  *ctx;
    u_char                  msg[128];

    r = cs->r;
    ctx = cs->ctx;
    cs->over = 1;

    /* the variables of the main request tell the served arm */
    ctx->arm = a->sctx->arm;
    ctx->propensity = a->sctx->propensity;

    /* recorded before the answer goes, for feedback that follows it */
    ngx_http_llmopt_outcome(a->sr, a->sctx);
    cs->reserved = 0;

    if (ngx_http_llmopt_add_header(r, "X-LLMOpt-Tiers", cs->names.data,
                                   cs->names.len)
        != NGX_OK)
    {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    if (a->body == NULL) {
        ngx_sprintf(msg, "The model failed (%ui) and no other tier could "
                    "take the request.%Z",
                    a->status >= 400 ? a->status : NGX_HTTP_BAD_GATEWAY);

        rc = ngx_http_llmopt_send_error(r, ctx->dialect,
                                        NGX_HTTP_BAD_GATEWAY, "api_error",
                                        "upstream_failed", msg,
                                        ngx_strlen(msg));
        ngx_http_finalize_request(r, rc);
        return;
    }

    b = ngx_calloc_buf(r->pool);
    if (b == NULL) {
        ngx_http_finalize_request(r, NGX_HTTP_INTERNAL_SERVER_ERROR);
        return;
    }

    b->pos = a->body->pos;
    b->last = a->body->last;
    b->memory = 1;

    type = a->sr->headers_out.content_type;

    if (type.len == 0) {
        ngx_str_set(&type, "application/json");
    }

    rc = ngx_http_llmopt_send_body(r, a->status, &type, b);

    ngx_http_finalize_request(r, rc);
}


/* The tiers' list gets sctx's arm and its cost. */

static void
ngx_http_llmopt_cascade_list(ngx_http_llmopt_cascade_t *cs,
    ngx_http_llmopt_ctx_t *sctx)
{
    u_char     *p, *last;
    ngx_str_t  *name;

    name = &cs->ctx->policy->arms[sctx->arm].name;

    p = cs->names.data + cs->names.len;
    last = cs->names_buf + sizeof(cs->names_buf);

    if ((size_t) (last - p) > name->len + 2) {
        p = ngx_slprintf(p, last, "%s%V", cs->names.len ? ", " : "", name);
        cs->names.len = p - cs->names.data;
    }

    p = cs->costs.data + cs->costs.len;
    last = cs->costs_buf + sizeof(cs->costs_buf);

    if ((size_t) (last - p) > name->len + 32) {
        p = ngx_slprintf(p, last, "%s%V:%.6f", cs->costs.len ? "," : "",
                         name, sctx->cost > 0 ? sctx->cost : 0.0);
        cs->costs.len = p - cs->costs.data;
    }
}


/* The request's pool goes: a reservation no attempt gave back goes too. */

static void
ngx_http_llmopt_cascade_cleanup(void *data)
{
    ngx_http_llmopt_cascade_t  *cs = data;

    if (cs->reserved) {
        cs->ctx->budgeted = 1;
        cs->reserved = 0;
        ngx_http_llmopt_budget_spend(cs->r, cs->ctx, 0, 1);
    }
}


ngx_int_t
ngx_http_llmopt_cascade_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    ngx_http_llmopt_ctx_t      *ctx;
    ngx_http_llmopt_cascade_t  *cs;

    ctx = ngx_http_llmopt_get_ctx(r);
    cs = ctx != NULL ? ctx->cascade : NULL;

    if (cs == NULL || cs->costs.len == 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    v->data = cs->costs.data;
    v->len = cs->costs.len;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
