
/*
 * Copyright (C) llmopt authors
 *
 * The catalog as nginx loads it (llmopt_catalog, llmopt_env_file): the
 * file read by the core's loader at each configuration, with only the
 * environment llmopt_env_file names, and each policy made ready for the
 * request path: its arms' models, parameters, upstreams and headers.
 */


#include <ngx_config.h>
#include <ngx_core.h>
#include <ngx_http.h>

#include "ngx_http_llmopt_common.h"
#include "ngx_http_llmopt_zone.h"
#include "ngx_http_llmopt_catalog.h"


static ngx_int_t ngx_http_llmopt_env_only(ngx_conf_t *cf,
    ngx_http_llmopt_main_conf_t *lmcf);
static void *ngx_http_llmopt_alloc(void *ctx, size_t size);
static char *ngx_http_llmopt_prepare_policies(ngx_conf_t *cf,
    ngx_http_llmopt_main_conf_t *lmcf);
static char *ngx_http_llmopt_prepare_arm(ngx_conf_t *cf,
    ngx_http_llmopt_main_conf_t *lmcf, const llmopt_policy_t *policy,
    ngx_uint_t i, ngx_http_llmopt_arm_t *arm);


char *
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


/*
 * llmopt_env_file: KEY=value lines set in the environment of the process
 * that reads the configuration, before llmopt_catalog expands ${KEY}, so
 * that "nginx -t" from any shell and the master on reload see the same
 * keys.  Blank lines and lines starting with "#" are skipped; a value may
 * be in single or double quotes (no escapes inside); "export " before the
 * name is allowed, as in a shell.  The systemd EnvironmentFile= format
 * for what it shares with this.
 */

char *
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
    arm->spec = model;
    arm->drop_unsupported = model->drop_unsupported
                            || policy->drop_unsupported;

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


ngx_http_llmopt_policy_rt_t *
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


/*
 * NGX_OK when proxy_pass http://name reaches something without a
 * resolver: an upstream{} block of that name, or an address; else
 * NGX_DECLINED, and host is the name without its port.
 */

ngx_int_t
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
