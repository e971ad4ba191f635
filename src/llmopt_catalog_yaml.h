/*
 * Copyright (C) llmopt authors
 *
 * The YAML parser of the catalog loader (llmopt_catalog_yaml.c).
 */


#ifndef _LLMOPT_CATALOG_YAML_H_INCLUDED_
#define _LLMOPT_CATALOG_YAML_H_INCLUDED_


#include "llmopt_catalog.h"


/*
 * Parses text[0 .. len - 1], one YAML document, into a node tree allocated
 * from alloc (at most LLMOPT_CATALOG_MAX_NODES nodes, MAX_DEPTH deep).
 * Returns the root, or NULL with err set (line and column 1-based).
 */

llmopt_catalog_node_t *llmopt_catalog_yaml_parse(const char *text,
    size_t len, const llmopt_alloc_t *alloc, llmopt_err_t *err);


#endif /* _LLMOPT_CATALOG_YAML_H_INCLUDED_ */
