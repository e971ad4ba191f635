
/*
 * Copyright (C) llmopt authors
 *
 * The module: its directives' table, its main and location configurations
 * (created, merged, checked), its phase handlers and filters registered,
 * and the http-level directives llmopt_zone, llmopt_trainer and
 * llmopt_state_file.  A routed location's directives are
 * ngx_http_llmopt_location.c's, the catalog ngx_http_llmopt_catalog.c's,
 * each process's start and exit ngx_http_llmopt_process.c's.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_catalog.h"
#include "ngx_http_llmopt_feedback.h"
#include "ngx_http_llmopt_filter.h"
#include "ngx_http_llmopt_cascade_body.h"
#include "ngx_http_llmopt_handler.h"
#include "ngx_http_llmopt_location.h"
#include "ngx_http_llmopt_outcome.h"
#include "ngx_http_llmopt_process.h"
#include "ngx_http_llmopt_redis.h"
#include "ngx_http_llmopt_status.h"
#include "ngx_http_llmopt_trainer.h"
#include "ngx_http_llmopt_variables.h"
#include "ngx_http_llmopt_zone_init.h"

#include "llmopt_pending.h"


static void *ngx_http_llmopt_create_main_conf(ngx_conf_t *cf);
static char *ngx_http_llmopt_init_main_conf(ngx_conf_t *cf, void *conf);
static void *ngx_http_llmopt_create_loc_conf(ngx_conf_t *cf);
static char *ngx_http_llmopt_merge_loc_conf(ngx_conf_t *cf, void *parent,
    void *child);
static ngx_int_t ngx_http_llmopt_preconfiguration(ngx_conf_t *cf);
static ngx_int_t ngx_http_llmopt_postconfiguration(ngx_conf_t *cf);

static char *ngx_http_llmopt_zone(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_llmopt_trainer(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);
static char *ngx_http_llmopt_state_file(ngx_conf_t *cf, ngx_command_t *cmd,
    void *conf);



static ngx_conf_num_bounds_t  ngx_http_llmopt_depth_bounds = {
    ngx_conf_check_num_bounds, 2, 1024
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

    if (ngx_http_llmopt_cascade_filter_init(cf) != NGX_OK) {
        return NGX_ERROR;
    }

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

