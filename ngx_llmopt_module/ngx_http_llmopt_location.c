
/*
 * Copyright (C) llmopt authors
 *
 * The directives of a routed location (llmopt_route, llmopt_failover,
 * llmopt_passthrough) and the check of such a location once merged: its
 * policy, its dialect and its name, its upstreams, its Allow.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_catalog.h"
#include "ngx_http_llmopt_http.h"
#include "ngx_http_llmopt_location.h"


static ngx_int_t ngx_http_llmopt_name_dialect(ngx_http_core_loc_conf_t *clcf);
static char *ngx_http_llmopt_allow(ngx_conf_t *cf, ngx_uint_t methods,
    ngx_str_t *allow);



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


char *
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

        if (ngx_strcmp(value[i].data, "dialect=responses") == 0) {
            llcf->dialect = LLMOPT_DIALECT_RESPONSES;
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


/* llmopt_failover: in the location error_page sends a failed answer to */

char *
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

char *
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


/*
 * What a routed location needs at run time, checked once its directives
 * are all read: the dialect of its clients, a proxy_pass, and upstreams
 * that proxy_pass can reach.  Also the Allow headers of its 405s.
 */

char *
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
    clcf = ngx_http_conf_get_module_loc_conf(cf, ngx_http_core_module);

    /*
     * The client's dialect: dialect=, else the location's name, else the
     * policy's.  An arm of the other one gets its request translated.
     */

    named = ngx_http_llmopt_name_dialect(clcf);

    if (conf->dialect >= 0 && named >= 0 && named != conf->dialect) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "llmopt_route: \"dialect=%s\" in location \"%V\", "
                      "which is an %s endpoint, in %V:%ui",
                      llmopt_dialect_name(conf->dialect), &clcf->name,
                      llmopt_dialect_name(named), &conf->route_file,
                      conf->route_line);
        return NGX_CONF_ERROR;
    }

    dialect = conf->dialect >= 0 ? (ngx_uint_t) conf->dialect
              : named >= 0 ? (ngx_uint_t) named : policy->dialect;

    if (conf->dialect < 0 && named < 0 && policy->mixed) {
        ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                      "llmopt_route: policy \"%V\" has arms of both the "
                      "openai and the anthropic API, and location \"%V\" "
                      "does not say which one its clients speak: add "
                      "\"dialect=openai\" or \"dialect=anthropic\", in "
                      "%V:%ui", &conf->policy_name, &clcf->name,
                      &conf->route_file, conf->route_line);
        return NGX_CONF_ERROR;
    }

    /* nothing is translated into the Responses API: its clients' only */

    for (i = 0; dialect != LLMOPT_DIALECT_RESPONSES && i < policy->n_arms;
         i++)
    {
        model = &lmcf->catalog.models[policy->arms[i].model];

        if (model->api == LLMOPT_DIALECT_RESPONSES && !model->api_client) {
            ngx_log_error(NGX_LOG_EMERG, cf->log, 0,
                          "llmopt_route: arm \"%s\" of policy \"%V\" "
                          "speaks the responses API, which only the clients "
                          "of a responses location can be routed to, and "
                          "location \"%V\" is an %s endpoint in %V:%ui",
                          policy->arms[i].name.data, &conf->policy_name,
                          &clcf->name, llmopt_dialect_name(dialect),
                          &conf->route_file, conf->route_line);
            return NGX_CONF_ERROR;
        }
    }

    conf->client = dialect;

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

    for (d = LLMOPT_DIALECT_OPENAI; d <= LLMOPT_DIALECT_RESPONSES; d++) {
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
