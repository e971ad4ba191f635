/*
 * Copyright (C) llmopt authors
 *
 * A policy's arms (llmopt_catalog_arms.c).
 */


#ifndef _LLMOPT_CATALOG_ARMS_H_INCLUDED_
#define _LLMOPT_CATALOG_ARMS_H_INCLUDED_


#include "llmopt_catalog.h"
#include "llmopt_catalog_values.h"


/* Fills policy->arms from the "arms" field f of the policy. */

int llmopt_catalog_arms(llmopt_catalog_ctx_t *ctx,
    llmopt_policy_t *policy, const llmopt_catalog_field_t *f,
    const char *where);


#endif /* _LLMOPT_CATALOG_ARMS_H_INCLUDED_ */
