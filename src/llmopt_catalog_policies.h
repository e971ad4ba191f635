/*
 * Copyright (C) llmopt authors
 *
 * The "policies" section (llmopt_catalog_policies.c).
 */


#ifndef _LLMOPT_CATALOG_POLICIES_H_INCLUDED_
#define _LLMOPT_CATALOG_POLICIES_H_INCLUDED_


#include "llmopt_catalog.h"
#include "llmopt_catalog_values.h"


/* Fills ctx->cat->policies; the models are checked by now. */

int llmopt_catalog_policies(llmopt_catalog_ctx_t *ctx,
    const llmopt_catalog_field_t *f);


#endif /* _LLMOPT_CATALOG_POLICIES_H_INCLUDED_ */
