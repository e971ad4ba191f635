
/*
 * Copyright (C) llmopt authors
 *
 * Directives, configuration and the catalog.  The zone is
 * ngx_http_llmopt_zone.c's.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_feedback.h"
#include "ngx_http_llmopt_filter.h"
#include "ngx_http_llmopt_handler.h"
#include "ngx_http_llmopt_outcome.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_redis.h"
#include "ngx_http_llmopt_request.h"
#include "ngx_http_llmopt_status.h"
#include "ngx_http_llmopt_trainer.h"
#include "ngx_http_llmopt_variables.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_zone_init.h"

#include "llmopt_rewrite.h"


static void *ngx_http_llmopt_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_llmopt_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_llmopt_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_llmopt_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_llmopt_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_llmopt_postconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_llmopt_init_process(ngx_cycle_t *cycle);

static char *ngx_http_llmopt_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_llmopt_catalog(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_llmopt_trainer(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_llmopt_env_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static ngx_int_t ngx_http_llmopt_env_only(ngx_conf_t *cf,
    ngx_http_llmopt_main_conf_t *lmcf);
static char *ngx_http_llmopt_state_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static void ngx_http_llmopt_exit_process(ngx_cycle_t *cycle);
static void ngx_http_llmopt_warm_up(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_policy_rt_t *prt);
static void ngx_http_llmopt_exit_master(ngx_cycle_t *cycle);
static char *ngx_http_llmopt_route(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_llmopt_failover_conf(ngx_conf_t *cf,
    ngx_command_t *cmd, void *conf);
static char *ngx_http_llmopt_passthrough(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_llmopt_check_route(ngx_conf_t *cf,
    ngx_http_llmopt_loc_conf_t *conf, ngx_http_llmopt_main_conf_t *lmcf);
static ngx_int_t ngx_http_llmopt_name_dialect(ngx_http_core_loc_conf_t *clcf);
static ngx_int_t ngx_http_llmopt_upstream_host(ngx_conf_t *cf,
    const llmopt_str_t *name, ngx_str_t *host);
static char *ngx_http_llmopt_allow(ngx_conf_t *cf, ngx_uint_t methods,
    ngx_str_t *allow);

static void *ngx_http_llmopt_alloc(void *ctx, size_t size);
static char *ngx_http_llmopt_prepare_policies(ngx_conf_t *cf,
    ngx_http_llmopt_main_conf_t *lmcf);
static char *ngx_http_llmopt_prepare_arm(ngx_conf_t *cf,
    ngx_http_llmopt_main_conf_t *lmcf, const llmopt_policy_t *policy,
    ngx_uint_t i, ngx_http_llmopt_arm_t *arm);
static ngx_http_llmopt_policy_rt_t *ngx_http_llmopt_find_policy(
    ngx_http_llmopt_main_conf_t *lmcf, ngx_str_t *name);


static ngx_conf_num_bounds_t  ngx_http_llmopt_depth_bounds = {
    ngx_conf_check_num_bounds, 2, 1024
};


static const char  *ngx_http_llmopt_dialects[] = { "openai", "anthropic" };


/* methods llmopt_passthrough may name, in the order Allow lists them */

static ngx_conf_bitmask_t  ngx_http_llmopt_methods[] = {
    { ngx_string("GET"), NGX_HTTP_GET },
    { ngx_string("HEAD"), NGX_HTTP_HEAD },
    { ngx_string("POST"), NGX_HTTP_POST },
    { ngx_string("PUT"), NGX_HTTP_PUT },
    { ngx_string("PATCH"), NGX_HTTP_PATCH },
    { ngx_string("DELETE"), NGX_HTTP_DELETE },
    { ngx_string("OPTIONS"), NGX_HTTP_OPTIONS },
    { ngx_null_string, 0 }
};


static ngx_command_t  ngx_http_llmopt_commands[] = {

    { ngx_string("llmopt_zone"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_llmopt_zone,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llmopt_catalog"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_llmopt_catalog,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llmopt_route"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_llmopt_route,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llmopt_status"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_llmopt_status,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llmopt_tenant_key"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_http_set_complex_value_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_llmopt_loc_conf_t, tenant),
      NULL },

    { ngx_string("llmopt_max_body"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_size_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_llmopt_loc_conf_t, max_body),
      NULL },

    { ngx_string("llmopt_max_depth"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_num_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_llmopt_loc_conf_t, max_depth),
      &ngx_http_llmopt_depth_bounds },

    { ngx_string("llmopt_trace"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_llmopt_loc_conf_t, trace),
      NULL },

    { ngx_string("llmopt_trainer"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_ANY,
      ngx_http_llmopt_trainer,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llmopt_shadow"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_FLAG,
      ngx_conf_set_flag_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_llmopt_loc_conf_t, shadow),
      NULL },

    { ngx_string("llmopt_pin_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_llmopt_loc_conf_t, pin_header),
      NULL },

    { ngx_string("llmopt_drain_timeout"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_msec_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_llmopt_loc_conf_t, drain_timeout),
      NULL },

    { ngx_string("llmopt_passthrough"),
      NGX_HTTP_LOC_CONF|NGX_CONF_TAKE12,
      ngx_http_llmopt_passthrough,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llmopt_failover"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_llmopt_failover_conf,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llmopt_redis"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_1MORE,
      ngx_http_llmopt_redis_conf,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llmopt_env_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_http_llmopt_env_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llmopt_state_file"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE12,
      ngx_http_llmopt_state_file,
      NGX_HTTP_MAIN_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llmopt_feedback"),
      NGX_HTTP_LOC_CONF|NGX_CONF_NOARGS,
      ngx_http_llmopt_feedback,
      NGX_HTTP_LOC_CONF_OFFSET,
      0,
      NULL },

    { ngx_string("llmopt_feedback_secret"),
      NGX_HTTP_MAIN_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_MAIN_CONF_OFFSET,
      offsetof(ngx_http_llmopt_main_conf_t, feedback_secret),
      NULL },

    { ngx_string("llmopt_quality_header"),
      NGX_HTTP_MAIN_CONF|NGX_HTTP_SRV_CONF|NGX_HTTP_LOC_CONF|NGX_CONF_TAKE1,
      ngx_conf_set_str_slot,
      NGX_HTTP_LOC_CONF_OFFSET,
      offsetof(ngx_http_llmopt_loc_conf_t, quality_header),
      NULL },

      ngx_null_command
};


static ngx_http_module_t  ngx_http_llmopt_module_ctx = {
    ngx_http_llmopt_preconfiguration,      /* preconfiguration */
    ngx_http_llmopt_postconfiguration,     /* postconfiguration */

    ngx_http_llmopt_create_main_conf,      /* create main configuration */
    ngx_http_llmopt_init_main_conf,        /* init main configuration */

    NULL,                                  /* create server configuration */
    NULL,                                  /* merge server configuration */

    ngx_http_llmopt_create_loc_conf,       /* create location configuration */
    ngx_http_llmopt_merge_loc_conf         /* merge location configuration */
};


ngx_module_t  ngx_http_llmopt_module = {
    NGX_MODULE_V1,
    &ngx_http_llmopt_module_ctx,           /* module context */
    ngx_http_llmopt_commands,              /* module directives */
    NGX_HTTP_MODULE,                       /* module type */
    NULL,                                  /* init master */
    NULL,                                  /* init module */
    ngx_http_llmopt_init_process,          /* init process */
    NULL,                                  /* init thread */
    NULL,                                  /* exit thread */
    ngx_http_llmopt_exit_process,          /* exit process */
    ngx_http_llmopt_exit_master,           /* exit master */
    NGX_MODULE_V1_PADDING
};


static void *
ngx_http_llmopt_create_main_conf(ngx_conf_t *cf)
{
    ngx_http_llmopt_main_conf_t  *lmcf;

    lmcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_llmopt_main_conf_t));
    if (lmcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     lmcf->catalog_file = { 0, NULL };
     *     lmcf->loaded = 0;
     *     lmcf->shm_zone = NULL;
     *     lmcf->toks = NULL;
     */

    if (ngx_array_init(&lmcf->policies, cf->pool, 4,
                       sizeof(ngx_http_llmopt_policy_rt_t))
        != NGX_OK)
    {
        return NULL;
    }

    lmcf->trainer_interval = NGX_CONF_UNSET_MSEC;
    lmcf->trainer_budget = NGX_CONF_UNSET_MSEC;
    lmcf->trainer_nice = NGX_CONF_UNSET;
    lmcf->trainer_driver = NGX_CONF_UNSET_UINT;
    lmcf->state_interval = NGX_CONF_UNSET_MSEC;

    return lmcf;
}


static char *
ngx_http_llmopt_init_main_conf(ngx_conf_t *cf, void *conf)
{
    ngx_http_llmopt_main_conf_t *lmcf = conf;

    size_t           need, roomy;
    ngx_str_t        host;
    ngx_uint_t       i;
    llmopt_model_t  *model;

    if (ngx_http_llmopt_trainer_conf(cf, lmcf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (ngx_http_llmopt_redis_check(cf, lmcf) != NGX_CONF_OK) {
        return NGX_CONF_ERROR;
    }

    if (!lmcf->loaded) {
        return NGX_CONF_OK;
    }

    if (lmcf->shm_zone == NULL) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"llmopt_catalog\" requires \"llmopt_zone\"");
        return NGX_CONF_ERROR;
    }

    /* said here, before nginx makes the zone and the allocations fail */

    ngx_http_llmopt_zone_need(lmcf, &need, &roomy);

    if (lmcf->shm_zone->shm.size < need) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "llmopt_zone \"%V\" of %uzk is too small for "
                           "the catalog \"%V\": it needs size=%uzk, and "
                           "size=%uzk leaves room for reloads that change "
                           "arms", &lmcf->shm_zone->shm.name,
                           lmcf->shm_zone->shm.size / 1024,
                           &lmcf->catalog_file, need / 1024, roomy / 1024);
        return NGX_CONF_ERROR;
    }

    /* every upstream of the catalog should be an upstream{} block */

    for (i = 0; i < lmcf->catalog.n_models; i++) {
        model = &lmcf->catalog.models[i];

        if (ngx_http_llmopt_upstream_host(cf, &model->upstream, &host)
            != NGX_OK)
        {
            ngx_conf_log_error(NGX_LOG_WARN, cf, 0,
                               "llmopt_catalog \"%V\":%ui:%ui: upstream "
                               "\"%s\" of model \"%s\" is not an "
                               "upstream{} block; proxy_pass will need a "
                               "resolver to reach it",
                               &lmcf->catalog_file, (ngx_uint_t) model->line,
                               (ngx_uint_t) model->column,
                               model->upstream.data, model->name.data);
        }
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_llmopt_create_loc_conf(ngx_conf_t *cf)
{
    ngx_http_llmopt_loc_conf_t  *llcf;

    llcf = ngx_pcalloc(cf->pool, sizeof(ngx_http_llmopt_loc_conf_t));
    if (llcf == NULL) {
        return NULL;
    }

    /*
     * set by ngx_pcalloc():
     *
     *     llcf->policy_name = { 0, NULL };
     *     llcf->policy = NULL;
     *     llcf->route_file = { 0, NULL };
     *     llcf->allow[] = { 0, NULL };
     */

    llcf->dialect = NGX_CONF_UNSET;
    llcf->tenant = NGX_CONF_UNSET_PTR;
    llcf->max_body = NGX_CONF_UNSET_SIZE;
    llcf->max_depth = NGX_CONF_UNSET_UINT;
    llcf->trace = NGX_CONF_UNSET;
    llcf->shadow = NGX_CONF_UNSET;
    llcf->drain_timeout = NGX_CONF_UNSET_MSEC;
    llcf->pass_methods = NGX_CONF_UNSET_UINT;
    llcf->pass_paths = NGX_CONF_UNSET_PTR;

    return llcf;
}


static char *
ngx_http_llmopt_merge_loc_conf(ngx_conf_t *cf, void *parent, void *child)
{
    ngx_http_llmopt_loc_conf_t *prev = parent;
    ngx_http_llmopt_loc_conf_t *conf = child;

    ngx_http_core_loc_conf_t     *clcf;
    ngx_http_llmopt_main_conf_t  *lmcf;

    ngx_conf_merge_ptr_value(conf->tenant, prev->tenant, NULL);
    ngx_conf_merge_size_value(conf->max_body, prev->max_body,
                              NGX_HTTP_LLMOPT_MAX_BODY);
    ngx_conf_merge_uint_value(conf->max_depth, prev->max_depth,
                              NGX_HTTP_LLMOPT_MAX_DEPTH);
    ngx_conf_merge_str_value(conf->quality_header, prev->quality_header, "");
    ngx_conf_merge_value(conf->trace, prev->trace, 0);
    ngx_conf_merge_value(conf->shadow, prev->shadow, 0);
    ngx_conf_merge_str_value(conf->pin_header, prev->pin_header, "");
    ngx_conf_merge_msec_value(conf->drain_timeout, prev->drain_timeout,
                              30000);

    if (conf->pass_methods == NGX_CONF_UNSET_UINT) {
        /* the methods and the paths go together */
        conf->pass_methods = (prev->pass_methods == NGX_CONF_UNSET_UINT)
                             ? 0 : prev->pass_methods;
        conf->pass_paths = (prev->pass_paths == NGX_CONF_UNSET_PTR)
                           ? NULL : prev->pass_paths;
    }

    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (conf->failover && clcf->handler == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"llmopt_failover\" in a location without "
                      "\"proxy_pass\" in %V:%ui: nothing would send the "
                      "request to the second arm; add \"proxy_pass "
                      "http://$llmopt_upstream;\"", &conf->route_file,
                      conf->route_line);
        return NGX_CONF_ERROR;
    }

    if (conf->feedback) {
        lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_llmopt_module);

        if (lmcf->shm_zone == NULL) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "\"llmopt_feedback\" requires \"llmopt_zone\"");
            return NGX_CONF_ERROR;
        }
    }

    if (conf->policy_name.len == 0) {
        return NGX_CONF_OK;
    }

    /* policies are resolved here: the catalog may follow the location */

    lmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_llmopt_module);

    if (!lmcf->loaded) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"llmopt_route\" requires \"llmopt_catalog\" in %V:%ui",
                      &conf->route_file, conf->route_line);
        return NGX_CONF_ERROR;
    }

    conf->policy = ngx_http_llmopt_find_policy(lmcf, &conf->policy_name);

    if (conf->policy == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "llmopt_route: unknown policy \"%V\" (not in "
                      "catalog \"%V\") in %V:%ui", &conf->policy_name,
                      &lmcf->catalog_file, &conf->route_file,
                      conf->route_line);
        return NGX_CONF_ERROR;
    }

    return ngx_http_llmopt_check_route(cf, conf, lmcf);
}


/*
 * What a routed location needs at run time, checked once its directives
 * are all read: a dialect its policy speaks, a proxy_pass, and upstreams
 * that proxy_pass can reach.  Also the Allow headers of its 405s.
 */

static char *
ngx_http_llmopt_check_route(ngx_conf_t *cf, ngx_http_llmopt_loc_conf_t *conf,
    ngx_http_llmopt_main_conf_t *lmcf)
{
    char                      *why;
    ngx_int_t                  named;
    ngx_str_t                  host;
    ngx_uint_t                 i, dialect;
    const llmopt_arm_t        *carm;
    const llmopt_model_t      *model;
    const llmopt_policy_t     *policy;
    ngx_http_core_loc_conf_t  *clcf;

    policy = conf->policy->policy;
    dialect = policy->dialect;
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    if (conf->dialect >= 0 && conf->dialect != (ngx_int_t) dialect) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "llmopt_route: policy \"%V\" speaks the %s API, "
                      "not the one of \"dialect=\" in %V:%ui",
                      &conf->policy_name, ngx_http_llmopt_dialects[dialect],
                      &conf->route_file, conf->route_line);
        return NGX_CONF_ERROR;
    }

    named = ngx_http_llmopt_name_dialect(clcf);

    if (named >= 0 && named != (ngx_int_t) dialect) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "llmopt_route: policy \"%V\" speaks the %s API, but "
                      "location \"%V\" is an %s endpoint in %V:%ui: route "
                      "it with a policy of %s models, or put this policy in "
                      "a location whose path ends in \"%V\"",
                      &conf->policy_name, ngx_http_llmopt_dialects[dialect],
                      &clcf->name, ngx_http_llmopt_dialects[named],
                      &conf->route_file, conf->route_line,
                      ngx_http_llmopt_dialects[named],
                      ngx_http_llmopt_endpoint(dialect));
        return NGX_CONF_ERROR;
    }

    if (clcf->handler == NULL) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "\"llmopt_route\" in a location without "
                      "\"proxy_pass\" in %V:%ui: nginx would answer the "
                      "request itself; add \"proxy_pass "
                      "http://$llmopt_upstream;\"", &conf->route_file,
                      conf->route_line);
        return NGX_CONF_ERROR;
    }

    /*
     * A name that is no upstream{} block nor an address is resolved at run
     * time: that needs a resolver, and a name the resolver can find.
     */

    for (i = 0; i < policy->n_arms; i++) {
        carm = &policy->arms[i];
        model = &lmcf->catalog.models[carm->model];

        if (ngx_http_llmopt_upstream_host(cf, &model->upstream, &host)
            == NGX_OK)
        {
            continue;
        }

        if (clcf->resolver->connections.nelts == 0) {
            why = "this location has no resolver";

        } else if (ngx_strlchr(host.data, host.data + host.len, '.') == NULL
                   || ngx_strlchr(host.data, host.data + host.len, '_'))
        {
            why = "no host name a resolver finds";

        } else {
            /* a host name: warned about in http{} */
            continue;
        }

        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "llmopt_route: upstream \"%s\" of arm \"%s\" of "
                      "policy \"%V\" is no upstream{} block and %s: add "
                      "\"upstream %s { server ...; }\" to http{}, or a "
                      "\"resolver\" if it is a host name, in %V:%ui",
                      model->upstream.data, carm->name.data,
                      &conf->policy_name, why, model->upstream.data,
                      &conf->route_file, conf->route_line);
        return NGX_CONF_ERROR;
    }

    /* Allow: [1] the endpoint's, [2] llmopt_passthrough's, [3] both */

    ngx_str_set(&conf->allow[1], "POST");

    if (ngx_http_llmopt_allow(cf, conf->pass_methods, &conf->allow[2])
        != NGX_CONF_OK
        || ngx_http_llmopt_allow(cf, conf->pass_methods | NGX_HTTP_POST,
                                 &conf->allow[3])
           != NGX_CONF_OK)
    {
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/*
 * The dialect a location's name says, -1 when it says none: an exact or
 * prefix location whose path ends in a dialect's endpoint.  Regular
 * expressions and named locations say none.
 */

static ngx_int_t
ngx_http_llmopt_name_dialect(ngx_http_core_loc_conf_t *clcf)
{
    ngx_uint_t   d;
    ngx_str_t   *e;

#if (NGX_PCRE)
    if (clcf->regex != NULL) {
        return -1;
    }
#endif

    if (clcf->named || clcf->noname) {
        return -1;
    }

    for (d = LLMOPT_DIALECT_OPENAI; d <= LLMOPT_DIALECT_ANTHROPIC; d++) {
        e = ngx_http_llmopt_endpoint(d);

        if (clcf->name.len >= e->len
            && ngx_strncmp(clcf->name.data + clcf->name.len - e->len,
                           e->data, e->len)
               == 0)
        {
            return d;
        }
    }

    return -1;
}


/*
 * NGX_OK when proxy_pass http://name reaches something without a
 * resolver: an upstream{} block of that name, or an address; else
 * NGX_DECLINED, and host is the name without its port.
 */

static ngx_int_t
ngx_http_llmopt_upstream_host(ngx_conf_t *cf, const llmopt_str_t *name,
    ngx_str_t *host)
{
    ngx_url_t                       u;
    ngx_uint_t                      i;
    ngx_http_upstream_srv_conf_t  **uscfp;
    ngx_http_upstream_main_conf_t  *umcf;

    umcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_upstream_module);
    uscfp = umcf->upstreams.elts;

    for (i = 0; i < umcf->upstreams.nelts; i++) {
        if (uscfp[i]->host.len == name->len
            && ngx_strncasecmp(uscfp[i]->host.data, (u_char *) name->data,
                               name->len)
               == 0)
        {
            return NGX_OK;
        }
    }

    ngx_memzero(&u, sizeof(ngx_url_t));

    u.url.data = (u_char *) name->data;
    u.url.len = name->len;
    u.default_port = 80;
    u.no_resolve = 1;

    if (ngx_parse_url(cf->pool, &u) != NGX_OK) {
        host->data = (u_char *) name->data;
        host->len = name->len;
        return NGX_DECLINED;
    }

    if (u.naddrs > 0) {
        return NGX_OK;
    }

    *host = u.host;

    return NGX_DECLINED;
}


/* "GET, HEAD", of a mask of methods, in the table's order */

static char *
ngx_http_llmopt_allow(ngx_conf_t *cf, ngx_uint_t methods, ngx_str_t *allow)
{
    u_char              *p;
    ngx_conf_bitmask_t  *m;

    p = ngx_pnalloc(cf->pool, sizeof("GET, HEAD, POST, PUT, PATCH, DELETE, "
                                     "OPTIONS"));
    if (p == NULL) {
        return NGX_CONF_ERROR;
    }

    allow->data = p;

    for (m = ngx_http_llmopt_methods; m->name.len; m++) {
        if (!(methods & m->mask)) {
            continue;
        }

        if (p != allow->data) {
            p = ngx_cpymem(p, ", ", 2);
        }

        p = ngx_cpymem(p, m->name.data, m->name.len);
    }

    allow->len = p - allow->data;

    return NGX_CONF_OK;
}


static ngx_int_t
ngx_http_llmopt_preconfiguration(ngx_conf_t *cf)
{
    return ngx_http_llmopt_add_variables(cf);
}


static ngx_int_t
ngx_http_llmopt_postconfiguration(ngx_conf_t *cf)
{
    ngx_http_handler_pt        *h;
    ngx_http_core_main_conf_t  *cmcf;

    cmcf = ngx_http_conf_get_module_main_conf(cf, ngx_http_core_module);

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_PRECONTENT_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_llmopt_handler;

    h = ngx_array_push(&cmcf->phases[NGX_HTTP_LOG_PHASE].handlers);
    if (h == NULL) {
        return NGX_ERROR;
    }

    *h = ngx_http_llmopt_log_handler;

    return ngx_http_llmopt_filter_init(cf);
}


static char *
ngx_http_llmopt_zone(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_llmopt_main_conf_t *lmcf = conf;

    ssize_t     size;
    ngx_int_t   n;
    ngx_str_t  *value, name, s;
    ngx_uint_t  i;

    if (lmcf->shm_zone != NULL) {
        return "is duplicate";
    }

    value = cf->args->elts;

    size = 0;
    name.len = 0;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "name=", 5) == 0) {
            name.data = value[i].data + 5;
            name.len = value[i].len - 5;
            continue;
        }

        if (ngx_strncmp(value[i].data, "events=", 7) == 0
            || ngx_strncmp(value[i].data, "pending=", 8) == 0)
        {
            s.data = (u_char *) ngx_strchr(value[i].data, '=') + 1;
            s.len = value[i].data + value[i].len - s.data;

            n = ngx_atoi(s.data, s.len);

            if (value[i].data[0] == 'e') {
                if (n < 64 || n > (ngx_int_t) LLMOPT_RING_MAX
                    || (n & (n - 1)) != 0)
                {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "\"%V\": events must be a power of 2 "
                                       "from 64 to %ui", &value[i],
                                       (ngx_uint_t) LLMOPT_RING_MAX);
                    return NGX_CONF_ERROR;
                }

                lmcf->events = n;

            } else {
                if (n < 16 || n > (ngx_int_t) LLMOPT_PENDING_MAX) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "\"%V\": pending must be from 16 to "
                                       "%ui", &value[i],
                                       (ngx_uint_t) LLMOPT_PENDING_MAX);
                    return NGX_CONF_ERROR;
                }

                lmcf->pending = n;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "size=", 5) == 0) {
            s.data = value[i].data + 5;
            s.len = value[i].len - 5;

            size = ngx_parse_size(&s);
            if (size == NGX_ERROR) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid zone size \"%V\"", &value[i]);
                return NGX_CONF_ERROR;
            }

            if (size < (ssize_t) (8 * ngx_pagesize)) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "zone \"%V\" is too small", &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (name.len == 0 || size == 0) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "\"%V\" must have \"name=\" and \"size=\"",
                           &cmd->name);
        return NGX_CONF_ERROR;
    }

    lmcf->shm_zone = ngx_shared_memory_add(cf, &name, size,
                                           &ngx_http_llmopt_module);
    if (lmcf->shm_zone == NULL) {
        return NGX_CONF_ERROR;
    }

    if (lmcf->shm_zone->data) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "duplicate zone \"%V\"", &name);
        return NGX_CONF_ERROR;
    }

    lmcf->shm_zone->init = ngx_http_llmopt_init_zone;
    lmcf->shm_zone->data = lmcf;

    return NGX_CONF_OK;
}


static char *
ngx_http_llmopt_catalog(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_llmopt_main_conf_t *lmcf = conf;

    ngx_str_t       *value;
    llmopt_err_t     err;
    llmopt_alloc_t   alloc;

    if (lmcf->loaded) {
        return "is duplicate";
    }

    lmcf->catalog_seen = 1;

    value = cf->args->elts;
    lmcf->catalog_file = value[1];

    if (ngx_conf_full_name(cf->cycle, &lmcf->catalog_file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (lmcf->env_names.elts != NULL
        && ngx_http_llmopt_env_only(cf, lmcf) != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    alloc.alloc = ngx_http_llmopt_alloc;
    alloc.ctx = cf->pool;

    ngx_memzero(&err, sizeof(llmopt_err_t));

    if (llmopt_catalog_load_file(&lmcf->catalog,
                                 (const char *) lmcf->catalog_file.data,
                                 &alloc, &err)
        != LLMOPT_OK)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "llmopt_catalog \"%V\":%ui:%ui: %s%s",
                           &lmcf->catalog_file, (ngx_uint_t) err.line,
                           (ngx_uint_t) err.column, err.msg,
                           ngx_strstr(err.msg, "is not set") == NULL ? ""
                           : " in the process that reads the configuration "
                             "(on reload, the master: \"nginx -t\" from a "
                             "shell sees the shell's environment); "
                             "\"llmopt_env_file\" gives both the same");
        return NGX_CONF_ERROR;
    }

    lmcf->loaded = 1;

    return ngx_http_llmopt_prepare_policies(cf, lmcf);
}


static char *
ngx_http_llmopt_route(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_llmopt_loc_conf_t *llcf = conf;

    ngx_str_t  *value;
    ngx_uint_t  i;

    if (llcf->policy_name.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    llcf->policy_name = value[1];

    /* by value: cf->conf_file is on the stack of the include being read */
    llcf->route_file.len = cf->conf_file->file.name.len;
    llcf->route_file.data = ngx_pstrdup(cf->pool, &cf->conf_file->file.name);
    if (llcf->route_file.data == NULL) {
        return NGX_CONF_ERROR;
    }

    llcf->route_line = cf->conf_file->line;

    for (i = 2; i < cf->args->nelts; i++) {

        if (ngx_strcmp(value[i].data, "dialect=openai") == 0) {
            llcf->dialect = LLMOPT_DIALECT_OPENAI;
            continue;
        }

        if (ngx_strcmp(value[i].data, "dialect=anthropic") == 0) {
            llcf->dialect = LLMOPT_DIALECT_ANTHROPIC;
            continue;
        }

        if (ngx_strcmp(value[i].data, "dialect=auto") == 0) {
            llcf->dialect = -1;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    if (llcf->dialect == NGX_CONF_UNSET) {
        llcf->dialect = -1;
    }

    return NGX_CONF_OK;
}


static void *
ngx_http_llmopt_alloc(void *ctx, size_t size)
{
    return ngx_pcalloc((ngx_pool_t *) ctx, size);
}


static char *
ngx_http_llmopt_prepare_policies(ngx_conf_t *cf,
    ngx_http_llmopt_main_conf_t *lmcf)
{
    ngx_uint_t                    i, a;
    llmopt_catalog_t             *cat;
    const llmopt_policy_t        *policy;
    ngx_http_llmopt_policy_rt_t  *prt;

    cat = &lmcf->catalog;

    for (i = 0; i < cat->n_policies; i++) {
        policy = &cat->policies[i];

        prt = ngx_array_push(&lmcf->policies);
        if (prt == NULL) {
            return NGX_CONF_ERROR;
        }

        ngx_memzero(prt, sizeof(ngx_http_llmopt_policy_rt_t));

        prt->name.data = (u_char *) policy->name.data;
        prt->name.len = policy->name.len;
        prt->policy = policy;
        prt->n_arms = policy->n_arms;
        prt->fallback = policy->fallback >= 0 ? policy->fallback : 0;
        ngx_http_llmopt_zone_shape(prt);

        prt->arms = ngx_pcalloc(cf->pool,
                                policy->n_arms * sizeof(ngx_http_llmopt_arm_t));
        if (prt->arms == NULL) {
            return NGX_CONF_ERROR;
        }

        for (a = 0; a < policy->n_arms; a++) {
            if (ngx_http_llmopt_prepare_arm(cf, lmcf, policy, a,
                                            &prt->arms[a])
                != NGX_CONF_OK)
            {
                return NGX_CONF_ERROR;
            }
        }
    }

    return NGX_CONF_OK;
}


static char *
ngx_http_llmopt_prepare_arm(ngx_conf_t *cf, ngx_http_llmopt_main_conf_t *lmcf,
    const llmopt_policy_t *policy, ngx_uint_t i, ngx_http_llmopt_arm_t *arm)
{
    ngx_uint_t             h, p;
    ngx_keyval_t          *kv;
    const llmopt_arm_t    *carm;
    const llmopt_model_t  *model;

    carm = &policy->arms[i];
    model = &lmcf->catalog.models[carm->model];

    arm->name.data = (u_char *) carm->name.data;
    arm->name.len = carm->name.len;
    arm->model.data = (u_char *) model->model.data;
    arm->model.len = model->model.len;
    arm->upstream.data = (u_char *) model->upstream.data;
    arm->upstream.len = model->upstream.len;

    if (carm->n_params + 1 > sizeof(arm->set) / sizeof(arm->set[0])) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "llmopt_catalog \"%V\": arm \"%V\" of policy "
                           "\"%s\" has more than 15 params",
                           &lmcf->catalog_file, &arm->name,
                           policy->name.data);
        return NGX_CONF_ERROR;
    }

    arm->set[0].key.data = "model";
    arm->set[0].key.len = sizeof("model") - 1;
    arm->set[0].json = model->model_json;
    arm->n_set = 1;

    for (p = 0; p < carm->n_params; p++) {
        arm->set[arm->n_set++] = carm->params[p];
    }

    if (ngx_array_init(&arm->headers, cf->pool, model->n_headers + 1,
                       sizeof(ngx_keyval_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    for (h = 0; h < model->n_headers; h++) {
        kv = ngx_array_push(&arm->headers);
        if (kv == NULL) {
            return NGX_CONF_ERROR;
        }

        kv->key.data = (u_char *) model->headers[h].name.data;
        kv->key.len = model->headers[h].name.len;
        kv->value.data = (u_char *) model->headers[h].value.data;
        kv->value.len = model->headers[h].value.len;
    }

    return NGX_CONF_OK;
}


static ngx_http_llmopt_policy_rt_t *
ngx_http_llmopt_find_policy(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_str_t *name)
{
    ngx_uint_t                    i;
    ngx_http_llmopt_policy_rt_t  *prt;

    prt = lmcf->policies.elts;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        if (prt[i].name.len == name->len
            && ngx_strncmp(prt[i].name.data, name->data, name->len) == 0)
        {
            return &prt[i];
        }
    }

    return NULL;
}



static ngx_int_t
ngx_http_llmopt_init_process(ngx_cycle_t *cycle)
{
    uint64_t                      seed;
    ngx_uint_t                    i;
    ngx_http_llmopt_main_conf_t  *lmcf;
    ngx_http_llmopt_policy_rt_t  *prt;

    if (ngx_process != NGX_PROCESS_WORKER
        && ngx_process != NGX_PROCESS_SINGLE
        && ngx_process != NGX_PROCESS_HELPER)
    {
        return NGX_OK;
    }

    lmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_llmopt_module);

    if (lmcf == NULL || !lmcf->loaded || lmcf->sh == NULL) {
        return NGX_OK;
    }

    if (ngx_process == NGX_PROCESS_HELPER) {
        return ngx_http_llmopt_trainer_init_process(cycle, lmcf);
    }

    lmcf->ntoks = 1024;
    lmcf->toks = ngx_palloc(cycle->pool,
                            lmcf->ntoks * sizeof(llmopt_json_tok_t));
    if (lmcf->toks == NULL) {
        return NGX_ERROR;
    }

    lmcf->random_used = sizeof(lmcf->random);

    prt = lmcf->policies.elts;

    for (i = 0; i < lmcf->policies.nelts; i++) {
        prt[i].last_good = ngx_pcalloc(cycle->pool, prt[i].block->size);
        if (prt[i].last_good == NULL) {
            return NGX_ERROR;
        }

        prt[i].last_seq = 1;    /* odd: no copy yet */

        seed = prt[i].policy->bandit.seed;

        if (seed == 0) {
            seed = ((uint64_t) ngx_pid << 32) ^ (uint64_t) ngx_time()
                   ^ (uint64_t) ngx_random() ^ (uintptr_t) &prt[i];
        }

        llmopt_rng_seed(&prt[i].rng, seed);

        ngx_memzero(lmcf->toks, lmcf->ntoks * sizeof(llmopt_json_tok_t));
        ngx_http_llmopt_warm_up(lmcf, &prt[i]);
    }

    return ngx_http_llmopt_trainer_init_process(cycle, lmcf);
}


/*
 * One decision on a made-up request, its result thrown away, before the
 * first real one: it brings the decision path's code and the policy's
 * parameters into memory, which otherwise the first request of each
 * worker pays for (measured in scripts/demo: 245-363 us without, 72-92 us
 * with; the rest is the heap's first pages).  The policy's own random
 * sequence is left alone.
 */

static void
ngx_http_llmopt_warm_up(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_policy_rt_t *prt)
{
    size_t                 len;
    llmopt_rng_t           rng;
    llmopt_choice_t        choice;
    llmopt_request_t       req;
    llmopt_feature_ctx_t   fctx;
    ngx_http_llmopt_arm_t *arm;
    double                 x[LLMOPT_FEATURE_MAX_DIM];
    u_char                 out[1024];

    static u_char  openai[] =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":"
        "\"warm up ```int x;``` please\"}],\"stream\":true}";
    static u_char  anthropic[] =
        "{\"model\":\"m\",\"max_tokens\":8,\"messages\":[{\"role\":"
        "\"user\",\"content\":\"warm up ```int x;``` please\"}]}";

    if (prt->policy->dialect == LLMOPT_DIALECT_ANTHROPIC) {
        len = sizeof(anthropic) - 1;
        if (llmopt_request_parse(&req, LLMOPT_DIALECT_ANTHROPIC, anthropic,
                                 len, lmcf->toks, lmcf->ntoks, 64, NULL)
            != LLMOPT_OK)
        {
            return;
        }

    } else {
        len = sizeof(openai) - 1;
        if (llmopt_request_parse(&req, LLMOPT_DIALECT_OPENAI, openai, len,
                                 lmcf->toks, lmcf->ntoks, 64, NULL)
            != LLMOPT_OK)
        {
            return;
        }
    }

    ngx_memzero(&fctx, sizeof(llmopt_feature_ctx_t));
    llmopt_features_build(&prt->policy->features, &req, &fctx, x);

    rng = prt->rng;

    if (llmopt_bandit_select(&prt->policy->bandit, prt->block->params, x,
                             NULL, &rng, &choice)
        != LLMOPT_OK)
    {
        return;
    }

    arm = &prt->arms[choice.arm < prt->n_arms ? choice.arm : 0];

    if (llmopt_request_rewrite_size(&req, arm->set, arm->n_set)
        <= sizeof(out))
    {
        (void) llmopt_request_rewrite(&req, arm->set, arm->n_set, out);
    }

    ngx_memcpy(prt->last_good, prt->block->params, prt->block->size);
}


static void
ngx_http_llmopt_exit_process(ngx_cycle_t *cycle)
{
    ngx_http_llmopt_main_conf_t  *lmcf;

    ngx_http_llmopt_cache_free();

    lmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_llmopt_module);

    if (lmcf == NULL || !lmcf->loaded || lmcf->sh == NULL) {
        return;
    }

    if (lmcf->ntoks > 1024) {
        /* grown for a large request with ngx_alloc(): not in a pool */
        ngx_free(lmcf->toks);
        lmcf->toks = NULL;
        lmcf->ntoks = 0;
    }

    ngx_http_llmopt_trainer_exit_process(cycle, lmcf);
}


static void
ngx_http_llmopt_exit_master(ngx_cycle_t *cycle)
{
    ngx_http_llmopt_main_conf_t  *lmcf;

    lmcf = ngx_http_cycle_get_module_main_conf(cycle, ngx_http_llmopt_module);

    if (lmcf == NULL || !lmcf->loaded || lmcf->sh == NULL) {
        return;
    }

    ngx_http_llmopt_trainer_exit_master(cycle, lmcf);
}


static char *
ngx_http_llmopt_trainer(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_llmopt_main_conf_t *lmcf = conf;

    ngx_str_t   *value, s;
    ngx_msec_t   ms;
    ngx_uint_t   i;

    if (lmcf->trainer_driver != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    lmcf->trainer_driver = NGX_HTTP_LLMOPT_DRIVER_AUTO;

    value = cf->args->elts;

    for (i = 1; i < cf->args->nelts; i++) {

        if (ngx_strncmp(value[i].data, "interval=", 9) == 0
            || ngx_strncmp(value[i].data, "budget=", 7) == 0)
        {
            s.data = (u_char *) ngx_strchr(value[i].data, '=') + 1;
            s.len = value[i].data + value[i].len - s.data;

            ms = ngx_parse_time(&s, 0);

            if (ms == (ngx_msec_t) NGX_ERROR || ms == 0 || ms > 60000) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid time \"%V\": from 1ms to 60s",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            if (value[i].data[0] == 'i') {
                lmcf->trainer_interval = ms;

            } else {
                lmcf->trainer_budget = ms;
            }

            continue;
        }

        if (ngx_strncmp(value[i].data, "nice=", 5) == 0) {
            lmcf->trainer_nice = ngx_atoi(value[i].data + 5,
                                          value[i].len - 5);

            if (lmcf->trainer_nice == NGX_ERROR || lmcf->trainer_nice > 19) {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "invalid \"%V\": from 0 to 19",
                                   &value[i]);
                return NGX_CONF_ERROR;
            }

            continue;
        }

        if (ngx_strcmp(value[i].data, "driver=auto") == 0) {
            lmcf->trainer_driver = NGX_HTTP_LLMOPT_DRIVER_AUTO;
            continue;
        }

        if (ngx_strcmp(value[i].data, "driver=helper") == 0) {
            lmcf->trainer_driver = NGX_HTTP_LLMOPT_DRIVER_HELPER;
            continue;
        }

        if (ngx_strcmp(value[i].data, "driver=worker") == 0) {
            lmcf->trainer_driver = NGX_HTTP_LLMOPT_DRIVER_WORKER;
            continue;
        }

        ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                           "invalid parameter \"%V\"", &value[i]);
        return NGX_CONF_ERROR;
    }

    return NGX_CONF_OK;
}


/* llmopt_failover: in the location error_page sends a failed answer to */

static char *
ngx_http_llmopt_failover_conf(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_llmopt_loc_conf_t *llcf = conf;

    if (llcf->failover == 1) {
        return "is duplicate";
    }

    llcf->failover = 1;

    if (llcf->route_file.len == 0) {
        llcf->route_file.len = cf->conf_file->file.name.len;
        llcf->route_file.data = ngx_pstrdup(cf->pool,
                                            &cf->conf_file->file.name);
        if (llcf->route_file.data == NULL) {
            return NGX_CONF_ERROR;
        }

        llcf->route_line = cf->conf_file->line;
    }

    return NGX_CONF_OK;
}


/*
 * llmopt_passthrough off | [methods=M,...] [paths=/p,...]: requests of a
 * routed location that are not POSTs to its endpoint, of these methods
 * (GET, HEAD by default) and under these paths (any by default), go to
 * the policy's fallback arm with its headers.  The paths' bytes stay in
 * cf->args' words, which live in cf->pool.
 */

static char *
ngx_http_llmopt_passthrough(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_llmopt_loc_conf_t *llcf = conf;

    u_char              *p, *last, *comma;
    ngx_str_t           *value, item, *path;
    ngx_uint_t           i, methods, is_method;
    ngx_array_t         *paths;
    ngx_conf_bitmask_t  *m;

    if (llcf->pass_methods != NGX_CONF_UNSET_UINT) {
        return "is duplicate";
    }

    value = cf->args->elts;

    if (cf->args->nelts == 2 && ngx_strcmp(value[1].data, "off") == 0) {
        llcf->pass_methods = 0;
        llcf->pass_paths = NULL;
        return NGX_CONF_OK;
    }

    methods = 0;
    paths = NULL;

    for (i = 1; i < cf->args->nelts; i++) {

        is_method = (ngx_strncmp(value[i].data, "methods=", 8) == 0);

        if (is_method && methods == 0) {
            p = value[i].data + 8;

        } else if (ngx_strncmp(value[i].data, "paths=", 6) == 0
                   && paths == NULL)
        {
            p = value[i].data + 6;

            paths = ngx_array_create(cf->pool, 4, sizeof(ngx_str_t));
            if (paths == NULL) {
                return NGX_CONF_ERROR;
            }

        } else {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[i]);
            return NGX_CONF_ERROR;
        }

        last = value[i].data + value[i].len;

        for ( /* void */ ; p != NULL; p = comma ? comma + 1 : NULL) {
            comma = ngx_strlchr(p, last, ',');

            item.data = p;
            item.len = (comma ? comma : last) - p;

            if (is_method) {
                for (m = ngx_http_llmopt_methods; m->name.len; m++) {
                    if (m->name.len == item.len
                        && ngx_strncasecmp(m->name.data, item.data, item.len)
                           == 0)
                    {
                        break;
                    }
                }

                if (m->name.len == 0) {
                    ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                       "invalid method \"%V\" in \"%V\"",
                                       &item, &value[i]);
                    return NGX_CONF_ERROR;
                }

                methods |= m->mask;
                continue;
            }

            if (item.len == 0 || item.data[0] != '/') {
                ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                                   "path \"%V\" does not start with \"/\"",
                                   &item);
                return NGX_CONF_ERROR;
            }

            path = ngx_array_push(paths);
            if (path == NULL) {
                return NGX_CONF_ERROR;
            }

            *path = item;
        }
    }

    llcf->pass_methods = methods ? methods : (NGX_HTTP_GET|NGX_HTTP_HEAD);
    llcf->pass_paths = paths;

    return NGX_CONF_OK;
}


static char *
ngx_http_llmopt_state_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_llmopt_main_conf_t *lmcf = conf;

    ngx_str_t   *value, s;
    ngx_msec_t   ms;

    if (lmcf->state_file.len) {
        return "is duplicate";
    }

    value = cf->args->elts;

    lmcf->state_file = value[1];

    if (ngx_conf_full_name(cf->cycle, &lmcf->state_file, 0) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    if (cf->args->nelts == 3) {
        if (ngx_strncmp(value[2].data, "interval=", 9) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid parameter \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        s.data = value[2].data + 9;
        s.len = value[2].len - 9;

        ms = ngx_parse_time(&s, 0);

        if (ms == (ngx_msec_t) NGX_ERROR || ms == 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "invalid time \"%V\"", &value[2]);
            return NGX_CONF_ERROR;
        }

        lmcf->state_interval = ms;
    }

    return NGX_CONF_OK;
}


/*
 * llmopt_env_file: KEY=value lines set in the environment of the process
 * that reads the configuration, before llmopt_catalog expands ${KEY}, so
 * that "nginx -t" from any shell and the master on reload see the same
 * keys.  Blank lines and lines starting with "#" are skipped; a value may
 * be in single or double quotes (no escapes inside); "export " before the
 * name is allowed, as in a shell.  The systemd EnvironmentFile= format
 * for what it shares with this.
 */

static char *
ngx_http_llmopt_env_file(ngx_conf_t *cf, ngx_command_t *cmd, void *conf)
{
    ngx_http_llmopt_main_conf_t *lmcf = conf;

    u_char           *buf, *p, *end, *eol, *name, *eq, *val, *vend;
    char             *rc;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t        *value, file, *kv;
    ngx_uint_t        line;
    ngx_file_info_t   fi;

    if (lmcf->catalog_seen) {
        return "must come before \"llmopt_catalog\"";
    }

    if (lmcf->env_names.elts != NULL) {
        return "is duplicate";
    }

    if (ngx_array_init(&lmcf->env_names, cf->pool, 8, sizeof(ngx_str_t))
        != NGX_OK)
    {
        return NGX_CONF_ERROR;
    }

    value = cf->args->elts;
    file = value[1];

    if (ngx_conf_full_name(cf->cycle, &file, 1) != NGX_OK) {
        return NGX_CONF_ERROR;
    }

    fd = ngx_open_file(file.data, NGX_FILE_RDONLY, NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           ngx_open_file_n " \"%V\" failed", &file);
        return NGX_CONF_ERROR;
    }

    buf = NULL;
    rc = NGX_CONF_ERROR;

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 1024 * 1024)
    {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "llmopt_env_file \"%V\" is not a file of at "
                           "most 1 MB", &file);
        goto done;
    }

    /* names point into buf: it lives as long as the configuration */

    buf = ngx_pnalloc(cf->pool, ngx_file_size(&fi) + 1);
    if (buf == NULL) {
        goto done;
    }

    n = read(fd, buf, ngx_file_size(&fi));
    if (n != (ssize_t) ngx_file_size(&fi)) {
        ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                           "llmopt_env_file \"%V\": read failed", &file);
        goto done;
    }

    end = buf + n;
    line = 0;

    for (p = buf; p < end; p = eol + 1) {
        line++;

        eol = ngx_strlchr(p, end, '\n');
        if (eol == NULL) {
            eol = end;
        }

        vend = eol;

        if (vend > p && vend[-1] == '\r') {
            vend--;
        }

        while (p < vend && (*p == ' ' || *p == '\t')) {
            p++;
        }

        if (p == vend || *p == '#') {
            continue;
        }

        if (vend - p > 7 && ngx_strncmp(p, "export ", 7) == 0) {
            p += 7;
        }

        name = p;

        while (p < vend && (*p == '_' || (*p >= 'A' && *p <= 'Z')
                            || (*p >= 'a' && *p <= 'z')
                            || (p > name && *p >= '0' && *p <= '9')))
        {
            p++;
        }

        eq = p;

        if (eq == name || eq == vend || *eq != '=') {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "llmopt_env_file \"%V\":%ui: not "
                               "NAME=value", &file, line);
            goto done;
        }

        val = eq + 1;

        if (vend - val >= 2 && (*val == '"' || *val == '\'')
            && vend[-1] == *val)
        {
            val++;
            vend--;
        }

        if (ngx_strlchr(val, vend, '\0') != NULL) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, 0,
                               "llmopt_env_file \"%V\":%ui: a NUL byte",
                               &file, line);
            goto done;
        }

        *eq = '\0';
        *vend = '\0';

        kv = ngx_array_push(&lmcf->env_names);
        if (kv == NULL) {
            goto done;
        }

        kv->data = name;
        kv->len = eq - name;

        if (setenv((char *) name, (char *) val, 1) != 0) {
            ngx_conf_log_error(NGX_LOG_EMERG, cf, ngx_errno,
                               "llmopt_env_file \"%V\":%ui: setenv() "
                               "failed", &file, line);
            goto done;
        }
    }

    rc = NGX_CONF_OK;

done:

    (void) ngx_close_file(fd);

    return rc;
}


/*
 * With llmopt_env_file, ${NAME} in the catalog comes from that file only:
 * each name the catalog refers to that the file does not set is removed
 * from this process's environment before the catalog is read, so that
 * "nginx -t" from a shell that has the key fails as the master would.
 * The scan of the raw text may find more than the header values (a
 * "${X}" in a comment); removing those does no harm.
 */

static ngx_int_t
ngx_http_llmopt_env_only(ngx_conf_t *cf, ngx_http_llmopt_main_conf_t *lmcf)
{
    u_char           *buf, *p, *end, *q;
    ssize_t           n;
    ngx_fd_t          fd;
    ngx_str_t        *names;
    ngx_uint_t        i;
    ngx_file_info_t   fi;

    fd = ngx_open_file(lmcf->catalog_file.data, NGX_FILE_RDONLY,
                       NGX_FILE_OPEN, 0);
    if (fd == NGX_INVALID_FILE) {
        return NGX_OK;      /* the catalog loader says why */
    }

    if (ngx_fd_info(fd, &fi) == NGX_FILE_ERROR
        || ngx_file_size(&fi) > 64 * 1024 * 1024)
    {
        (void) ngx_close_file(fd);
        return NGX_OK;
    }

    buf = ngx_pnalloc(cf->temp_pool, ngx_file_size(&fi) + 1);
    if (buf == NULL) {
        (void) ngx_close_file(fd);
        return NGX_ERROR;
    }

    n = read(fd, buf, ngx_file_size(&fi));
    (void) ngx_close_file(fd);

    if (n < 0) {
        return NGX_OK;
    }

    end = buf + n;
    names = lmcf->env_names.elts;

    for (p = buf; p + 3 < end; p++) {

        if (p[0] == '$' && p[1] == '$') {
            p++;
            continue;
        }

        if (p[0] != '$' || p[1] != '{') {
            continue;
        }

        for (q = p + 2; q < end && (*q == '_' || (*q >= 'A' && *q <= 'Z')
                                    || (*q >= 'a' && *q <= 'z')
                                    || (q > p + 2 && *q >= '0'
                                        && *q <= '9'));
             q++)
        { /* void */ }

        if (q == end || *q != '}' || q == p + 2) {
            continue;
        }

        for (i = 0; i < lmcf->env_names.nelts; i++) {
            if (names[i].len == (size_t) (q - p - 2)
                && ngx_strncmp(names[i].data, p + 2, names[i].len) == 0)
            {
                break;
            }
        }

        if (i == lmcf->env_names.nelts) {
            *q = '\0';
            (void) unsetenv((char *) p + 2);
            *q = '}';
        }

        p = q;
    }

    return NGX_OK;
}
