/*
 * Copyright (C) llmopt authors
 *
 * The "models" section (llmopt_catalog_models.c).
 */


#ifndef _LLMOPT_CATALOG_MODELS_H_INCLUDED_
#define _LLMOPT_CATALOG_MODELS_H_INCLUDED_


#include "llmopt_catalog.h"
#include "llmopt_catalog_values.h"


/* Fills ctx->cat->models from the "models" field of the catalog. */

int llmopt_catalog_models(llmopt_catalog_ctx_t *ctx,
    const llmopt_catalog_field_t *f);


#endif /* _LLMOPT_CATALOG_MODELS_H_INCLUDED_ */
