
/*
 * Copyright (C) llmopt authors
 *
 * llmopt_failover, in the location error_page sends a failed answer to:
 * the failed arm's outcome is learned, and the request goes to the
 * policy's choice among the other arms (llmopt_decide() asked again with
 * the failed arm left out), with the body and the headers rewritten for
 * it.  Once only: a second failure goes to the client.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_decide.h"
#include "ngx_http_llmopt_filter.h"
#include "ngx_http_llmopt_budget.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_outcome.h"
#include "ngx_http_llmopt_request.h"
#include "ngx_http_llmopt_rewrite.h"
#include "ngx_http_llmopt_failover.h"


ngx_int_t
ngx_http_llmopt_failover(ngx_http_request_t *r)
{
    ngx_int_t                     rc;
    ngx_uint_t                    failed;
    llmopt_request_t              req;
    ngx_http_llmopt_ctx_t        *ctx;
    ngx_http_llmopt_policy_rt_t  *prt;
    u_char                        msg[160];

    ctx = ngx_http_llmopt_get_ctx(r);

    if (ctx == NULL || !ctx->routed || ctx->rejected || ctx->passthrough
        || ctx->failed_over || ctx->body == NULL)
    {
        /* nothing llmopt chose, or a second failure: as configured */
        return NGX_DECLINED;
    }

    prt = ctx->policy;
    failed = ctx->arm;

    if (r->upstream != NULL
        && r->headers_out.status == NGX_HTTP_TOO_MANY_REQUESTS)
    {
        ctx->retry_after = ngx_http_llmopt_retry_after(r);
    }

    ngx_http_llmopt_attempt_failed(r, ctx);

    ctx->failed_over = 1;
    (void) ngx_atomic_fetch_add(&prt->stats->failovers, 1);

    /* the body again, parsed (the worker's token array was reused) */

    rc = ngx_http_llmopt_parse(r, ctx, &req, ctx->body, ctx->body_len);
    if (rc != NGX_OK) {
        return rc == NGX_DONE ? NGX_DONE : rc;
    }

    if (ngx_http_llmopt_decide_again(r, ctx, &req, failed) != NGX_OK) {
        /* the failed attempt's status, as settled; 502 when none came */
        ngx_sprintf(msg, "The model failed (%ui) and no other model of "
                    "this endpoint can take the request.%Z",
                    ctx->event.status ? (ngx_uint_t) ctx->event.status
                                      : (ngx_uint_t) NGX_HTTP_BAD_GATEWAY);

        ctx->rejected = 1;
        ngx_http_llmopt_budget_spend(r, ctx, 0, 1);

        rc = ngx_http_llmopt_send_error(r, ctx->dialect,
                                        NGX_HTTP_BAD_GATEWAY,
                                        "api_error", "upstream_failed",
                                        msg, ngx_strlen(msg));
        ngx_http_finalize_request(r, rc);
        return NGX_DONE;
    }

    rc = ngx_http_llmopt_rewrite(r, ctx, &req);
    if (rc != NGX_OK) {
        return rc;
    }

    /* built anew from the client's: nothing of the failed arm's goes */
    if (ngx_http_llmopt_set_headers(r, ctx, &prt->arms[ctx->arm]) != NGX_OK) {
        return NGX_HTTP_INTERNAL_SERVER_ERROR;
    }

    ngx_log_error(NGX_LOG_INFO, r->connection->log, 0,
                  "llmopt: policy \"%V\": arm \"%V\" failed, failover to "
                  "\"%V\"", &prt->name, &prt->arms[failed].name,
                  &prt->arms[ctx->arm].name);

    /* the upstream of the new arm: $llmopt_upstream follows ctx->arm */

    r->headers_out.status = 0;
    r->err_status = 0;

    return NGX_DECLINED;
}
