
/*
 * Copyright (C) llmopt authors
 *
 * The $llmopt_* variables.  All read the decision of the main request,
 * which survives internal redirects.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_cache.h"
#include "ngx_http_llmopt_cascade.h"
#include "ngx_http_llmopt_outcome.h"
#include "ngx_http_llmopt_request.h"
#include "ngx_http_llmopt_variables.h"


typedef enum {
    NGX_HTTP_LLMOPT_VAR_POLICY = 0,
    NGX_HTTP_LLMOPT_VAR_ARM,
    NGX_HTTP_LLMOPT_VAR_MODEL,
    NGX_HTTP_LLMOPT_VAR_UPSTREAM,
    NGX_HTTP_LLMOPT_VAR_DECISION_US,
    NGX_HTTP_LLMOPT_VAR_EXPLORE,
    NGX_HTTP_LLMOPT_VAR_PROPENSITY,
    NGX_HTTP_LLMOPT_VAR_REQUEST_ID,
    NGX_HTTP_LLMOPT_VAR_DIALECT,
    NGX_HTTP_LLMOPT_VAR_FEATURES,
    NGX_HTTP_LLMOPT_VAR_REASON,
    NGX_HTTP_LLMOPT_VAR_BODY_IN,
    NGX_HTTP_LLMOPT_VAR_BODY_OUT,
    NGX_HTTP_LLMOPT_VAR_TOKENS_IN,
    NGX_HTTP_LLMOPT_VAR_TOKENS_OUT,
    NGX_HTTP_LLMOPT_VAR_TOKENS_CACHED,
    NGX_HTTP_LLMOPT_VAR_COST,
    NGX_HTTP_LLMOPT_VAR_REWARD,
    NGX_HTTP_LLMOPT_VAR_TTFT_MS,
    NGX_HTTP_LLMOPT_VAR_LATENCY_MS,
    NGX_HTTP_LLMOPT_VAR_FINISH,
    NGX_HTTP_LLMOPT_VAR_TRACE_ID,
    NGX_HTTP_LLMOPT_VAR_SHADOW_ARM,
    NGX_HTTP_LLMOPT_VAR_COST_SOURCE,
    NGX_HTTP_LLMOPT_VAR_CLIENT_GONE,
    NGX_HTTP_LLMOPT_VAR_VARIANT,
    NGX_HTTP_LLMOPT_VAR_VARIANT_PROPENSITY
} ngx_http_llmopt_var_e;


static ngx_int_t ngx_http_llmopt_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);
static ngx_int_t ngx_http_llmopt_features_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, ngx_http_llmopt_ctx_t *ctx);
static ngx_int_t ngx_http_llmopt_outcome_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data);


static ngx_http_variable_t  ngx_http_llmopt_vars[] = {

    { ngx_string("llmopt_policy"), NULL, ngx_http_llmopt_variable,
      NGX_HTTP_LLMOPT_VAR_POLICY, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_arm"), NULL, ngx_http_llmopt_variable,
      NGX_HTTP_LLMOPT_VAR_ARM, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_model"), NULL, ngx_http_llmopt_variable,
      NGX_HTTP_LLMOPT_VAR_MODEL, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_upstream"), NULL, ngx_http_llmopt_variable,
      NGX_HTTP_LLMOPT_VAR_UPSTREAM, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_decision_us"), NULL, ngx_http_llmopt_variable,
      NGX_HTTP_LLMOPT_VAR_DECISION_US, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_explore"), NULL, ngx_http_llmopt_variable,
      NGX_HTTP_LLMOPT_VAR_EXPLORE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_propensity"), NULL, ngx_http_llmopt_variable,
      NGX_HTTP_LLMOPT_VAR_PROPENSITY, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_request_id"), NULL, ngx_http_llmopt_variable,
      NGX_HTTP_LLMOPT_VAR_REQUEST_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_dialect"), NULL, ngx_http_llmopt_variable,
      NGX_HTTP_LLMOPT_VAR_DIALECT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_features"), NULL, ngx_http_llmopt_variable,
      NGX_HTTP_LLMOPT_VAR_FEATURES, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_reason"), NULL, ngx_http_llmopt_variable,
      NGX_HTTP_LLMOPT_VAR_REASON, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_body_in"), NULL, ngx_http_llmopt_variable,
      NGX_HTTP_LLMOPT_VAR_BODY_IN, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_body_out"), NULL, ngx_http_llmopt_variable,
      NGX_HTTP_LLMOPT_VAR_BODY_OUT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_tokens_in"), NULL, ngx_http_llmopt_outcome_variable,
      NGX_HTTP_LLMOPT_VAR_TOKENS_IN, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_tokens_out"), NULL, ngx_http_llmopt_outcome_variable,
      NGX_HTTP_LLMOPT_VAR_TOKENS_OUT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_tokens_cached"), NULL,
      ngx_http_llmopt_outcome_variable,
      NGX_HTTP_LLMOPT_VAR_TOKENS_CACHED, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_cost"), NULL, ngx_http_llmopt_outcome_variable,
      NGX_HTTP_LLMOPT_VAR_COST, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_reward"), NULL, ngx_http_llmopt_outcome_variable,
      NGX_HTTP_LLMOPT_VAR_REWARD, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_ttft_ms"), NULL, ngx_http_llmopt_outcome_variable,
      NGX_HTTP_LLMOPT_VAR_TTFT_MS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_latency_ms"), NULL, ngx_http_llmopt_outcome_variable,
      NGX_HTTP_LLMOPT_VAR_LATENCY_MS, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_finish"), NULL, ngx_http_llmopt_outcome_variable,
      NGX_HTTP_LLMOPT_VAR_FINISH, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_trace_id"), NULL, ngx_http_llmopt_variable,
      NGX_HTTP_LLMOPT_VAR_TRACE_ID, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_cost_source"), NULL,
      ngx_http_llmopt_outcome_variable,
      NGX_HTTP_LLMOPT_VAR_COST_SOURCE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_client_gone"), NULL,
      ngx_http_llmopt_outcome_variable,
      NGX_HTTP_LLMOPT_VAR_CLIENT_GONE, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_shadow_arm"), NULL, ngx_http_llmopt_variable,
      NGX_HTTP_LLMOPT_VAR_SHADOW_ARM, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_variant"), NULL, ngx_http_llmopt_variable,
      NGX_HTTP_LLMOPT_VAR_VARIANT, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_variant_propensity"), NULL,
      ngx_http_llmopt_variable,
      NGX_HTTP_LLMOPT_VAR_VARIANT_PROPENSITY, NGX_HTTP_VAR_NOCACHEABLE, 0 },

    { ngx_string("llmopt_tiers"), NULL, ngx_http_llmopt_cascade_variable,
      0, NGX_HTTP_VAR_NOCACHEABLE, 0 },

      ngx_http_null_variable
};


ngx_int_t
ngx_http_llmopt_add_variables(ngx_conf_t *cf)
{
    ngx_http_variable_t  *var, *v;

    for (v = ngx_http_llmopt_vars; v->name.len; v++) {
        var = ngx_http_add_variable(cf, &v->name, v->flags);
        if (var == NULL) {
            return NGX_ERROR;
        }

        var->get_handler = v->get_handler;
        var->data = v->data;
    }

    return ngx_http_llmopt_cache_add_variables(cf);
}


static ngx_int_t
ngx_http_llmopt_variable(ngx_http_request_t *r, ngx_http_variable_value_t *v,
    uintptr_t data)
{
    u_char                 *p;
    ngx_str_t              *s;
    const llmopt_str_t     *name;
    ngx_http_llmopt_arm_t  *arm;
    ngx_http_llmopt_ctx_t  *ctx;

    ctx = ngx_http_llmopt_get_ctx(r);

    if (ctx == NULL || !ctx->routed || ctx->rejected) {
        v->not_found = 1;
        return NGX_OK;
    }

    arm = &ctx->policy->arms[ctx->arm];
    s = NULL;
    p = NULL;

    switch (data) {

    case NGX_HTTP_LLMOPT_VAR_POLICY:
        s = &ctx->policy->name;
        break;

    case NGX_HTTP_LLMOPT_VAR_ARM:
        s = &arm->name;
        break;

    case NGX_HTTP_LLMOPT_VAR_MODEL:
        s = &arm->model;
        break;

    case NGX_HTTP_LLMOPT_VAR_UPSTREAM:
        s = &arm->upstream;
        break;

    case NGX_HTTP_LLMOPT_VAR_REQUEST_ID:
        v->data = ctx->request_id;
        v->len = sizeof(ctx->request_id);
        goto found;

    case NGX_HTTP_LLMOPT_VAR_TRACE_ID:
        if (!ctx->has_trace) {
            v->not_found = 1;
            return NGX_OK;
        }

        v->data = ctx->trace_id;
        v->len = sizeof(ctx->trace_id);
        goto found;

    case NGX_HTTP_LLMOPT_VAR_DIALECT:
        v->data = (u_char *) llmopt_dialect_name(ctx->dialect);
        v->len = ngx_strlen(v->data);
        goto found;

    case NGX_HTTP_LLMOPT_VAR_REASON:
        v->data = (u_char *) (ctx->passthrough ? "passthrough"
                              : ctx->fallback ? "fallback"
                              : ctx->pinned ? "pinned"
                              : ctx->shadow ? "shadow"
                              : ctx->failed_over ? "failover"
                              : ctx->probe ? "probe"
                              : ctx->canary ? "canary"
                              : ctx->explore ? "explore" : "exploit");
        v->len = ngx_strlen(v->data);
        goto found;

    case NGX_HTTP_LLMOPT_VAR_SHADOW_ARM:
        if (!ctx->shadow) {
            v->not_found = 1;
            return NGX_OK;
        }

        v->data = ctx->policy->arms[ctx->shadow_arm].name.data;
        v->len = ctx->policy->arms[ctx->shadow_arm].name.len;
        goto found;

    case NGX_HTTP_LLMOPT_VAR_VARIANT:
    case NGX_HTTP_LLMOPT_VAR_VARIANT_PROPENSITY:
        if (ctx->variant < 0) {
            v->not_found = 1;
            return NGX_OK;
        }

        if (data == NGX_HTTP_LLMOPT_VAR_VARIANT) {
            name = &ctx->policy->policy->variants[ctx->variant].name;
            v->data = (u_char *) name->data;
            v->len = name->len;
            goto found;
        }

        break;

    case NGX_HTTP_LLMOPT_VAR_EXPLORE:
        v->data = (u_char *) (ctx->explore ? "1" : "0");
        v->len = 1;
        goto found;

    case NGX_HTTP_LLMOPT_VAR_FEATURES:
        return ngx_http_llmopt_features_variable(r, v, ctx);

    default:
        break;
    }

    if (s != NULL) {
        v->data = s->data;
        v->len = s->len;
        goto found;
    }

    if (ctx->passthrough) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, NGX_OFF_T_LEN + 8);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    switch (data) {

    case NGX_HTTP_LLMOPT_VAR_DECISION_US:
        p = ngx_sprintf(p, "%uL.%03uL", ctx->decision_ns / 1000,
                        ctx->decision_ns % 1000);
        break;

    case NGX_HTTP_LLMOPT_VAR_PROPENSITY:
        p = ngx_sprintf(p, "%.6f", ctx->propensity);
        break;

    case NGX_HTTP_LLMOPT_VAR_VARIANT_PROPENSITY:
        p = ngx_sprintf(p, "%.6f", ctx->variant_propensity);
        break;

    case NGX_HTTP_LLMOPT_VAR_BODY_IN:
        p = ngx_sprintf(p, "%O", ctx->body_in);
        break;

    case NGX_HTTP_LLMOPT_VAR_BODY_OUT:
        p = ngx_sprintf(p, "%O", ctx->body_out);
        break;
    }

    v->len = p - v->data;

found:

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


static ngx_int_t
ngx_http_llmopt_features_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, ngx_http_llmopt_ctx_t *ctx)
{
    size_t                        n;
    u_char                       *p;
    const llmopt_feature_spec_t  *spec;

    if (ctx->passthrough) {
        v->not_found = 1;
        return NGX_OK;
    }

    spec = &ctx->policy->policy->features;

    n = llmopt_features_json(spec, ctx->x, NULL, 0);

    p = ngx_pnalloc(r->pool, n + 1);
    if (p == NULL) {
        return NGX_ERROR;
    }

    (void) llmopt_features_json(spec, ctx->x, (char *) p, n + 1);

    v->data = p;
    v->len = n;
    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}


/*
 * What came back, known once the response is over (in the log phase);
 * not found before, for a request that was not routed, and for a value
 * that was not seen (usage of a response without any).
 */

static ngx_int_t
ngx_http_llmopt_outcome_variable(ngx_http_request_t *r,
    ngx_http_variable_value_t *v, uintptr_t data)
{
    u_char                 *p;
    double                  value;
    const char             *name;
    llmopt_event_t         *ev;
    ngx_http_llmopt_ctx_t  *ctx;

    ctx = ngx_http_llmopt_get_ctx(r);

    if (ctx == NULL || !ctx->routed || ctx->rejected || ctx->passthrough
        || !(ctx->body_done || ctx->logged || r->connection->error))
    {
        v->not_found = 1;
        return NGX_OK;
    }

    ngx_http_llmopt_settle(r, ctx);

    ev = &ctx->event;

    switch (data) {

    case NGX_HTTP_LLMOPT_VAR_COST_SOURCE:
        name = ctx->cost < 0 ? "none"
               : ctx->cost_estimated ? "estimate" : "usage";
        v->data = (u_char *) name;
        v->len = ngx_strlen(name);
        goto found;

    case NGX_HTTP_LLMOPT_VAR_CLIENT_GONE:
        if (!ctx->client_gone) {
            v->not_found = 1;
            return NGX_OK;
        }

        name = ctx->client_gone == NGX_HTTP_LLMOPT_GONE_BEFORE ? "before"
                                                               : "during";
        v->data = (u_char *) name;
        v->len = ngx_strlen(name);
        goto found;
    }

    if (ctx->usage == NULL && data != NGX_HTTP_LLMOPT_VAR_COST
        && data != NGX_HTTP_LLMOPT_VAR_LATENCY_MS)
    {
        /* no answer came: its tokens, finish and the rest are unknown */
        v->not_found = 1;
        return NGX_OK;
    }

    if (data == NGX_HTTP_LLMOPT_VAR_FINISH) {
        name = llmopt_finish_name((llmopt_finish_e) ev->finish);
        v->data = (u_char *) name;
        v->len = ngx_strlen(name);
        goto found;
    }

    switch (data) {

    case NGX_HTTP_LLMOPT_VAR_TOKENS_IN:
    case NGX_HTTP_LLMOPT_VAR_TOKENS_OUT:
    case NGX_HTTP_LLMOPT_VAR_TOKENS_CACHED:
        if (!ctx->usage->seen_usage) {
            v->not_found = 1;
            return NGX_OK;
        }

        value = (data == NGX_HTTP_LLMOPT_VAR_TOKENS_IN) ? ev->tokens_in
                : (data == NGX_HTTP_LLMOPT_VAR_TOKENS_OUT) ? ev->tokens_out
                : ev->tokens_cached;
        break;

    case NGX_HTTP_LLMOPT_VAR_COST:
        value = ctx->cost;
        break;

    case NGX_HTTP_LLMOPT_VAR_REWARD:
        value = ctx->reward;
        break;

    case NGX_HTTP_LLMOPT_VAR_TTFT_MS:
        value = ctx->ttft_ms;
        break;

    default: /* NGX_HTTP_LLMOPT_VAR_LATENCY_MS */
        value = ctx->latency_ms;
        break;
    }

    if (value < 0) {
        v->not_found = 1;
        return NGX_OK;
    }

    p = ngx_pnalloc(r->pool, 64);
    if (p == NULL) {
        return NGX_ERROR;
    }

    v->data = p;

    switch (data) {

    case NGX_HTTP_LLMOPT_VAR_TOKENS_IN:
    case NGX_HTTP_LLMOPT_VAR_TOKENS_OUT:
    case NGX_HTTP_LLMOPT_VAR_TOKENS_CACHED:
        p = ngx_sprintf(p, "%uL", (uint64_t) value);
        break;

    case NGX_HTTP_LLMOPT_VAR_COST:
        /* USD, to 1e-12: exact for any real price list */
        p = ngx_sprintf(p, "%.12f", value);
        break;

    case NGX_HTTP_LLMOPT_VAR_REWARD:
        p = ngx_sprintf(p, "%.4f", value);
        break;

    default:
        p = ngx_sprintf(p, "%.3f", value);
        break;
    }

    v->len = p - v->data;

found:

    v->valid = 1;
    v->no_cacheable = 1;
    v->not_found = 0;

    return NGX_OK;
}
