
/*
 * Copyright (C) llmopt authors
 *
 * llmopt_redis, the fleet's budgets (ngx_http_llmopt_redis_budget.c).
 */

#ifndef _NGX_HTTP_LLMOPT_REDIS_BUDGET_H_INCLUDED_
#define _NGX_HTTP_LLMOPT_REDIS_BUDGET_H_INCLUDED_


#include "ngx_http_llmopt_redis_client.h"


/* Every tick: grants asked and claims reported for every budget, or the
   outage's mode while Redis is away. */
void ngx_http_llmopt_redis_budgets(ngx_http_llmopt_main_conf_t *lmcf,
    ngx_http_llmopt_redis_t *rs, uint64_t now);


#endif /* _NGX_HTTP_LLMOPT_REDIS_BUDGET_H_INCLUDED_ */
