/*
 * Copyright (C) llmopt authors
 *
 * A prompt variant: how a policy may ask a model besides which model it
 * asks -- the system prompt prepended to or replaced, an instruction
 * appended to the last user turn, few-shot examples put before the
 * conversation, structured output asked for.  Catalog data, checked and
 * JSON-escaped once at load (llmopt_catalog_variants.c); the rewriter
 * (llmopt_rewrite.h) splices the pre-escaped pieces into a request.
 */

#ifndef _LLMOPT_VARIANT_H_INCLUDED_
#define _LLMOPT_VARIANT_H_INCLUDED_


#include "llmopt_core.h"


#define LLMOPT_MAX_VARIANTS        8      /* of a policy, the control too */
#define LLMOPT_VARIANT_TEXT_MAX    8192   /* bytes of one text, as written */
#define LLMOPT_VARIANT_MAX_SHOTS   8      /* user/assistant example pairs */

/* llmopt_variant_t.dialects: 1 << llmopt_dialect_e it can be written in */
#define LLMOPT_VARIANT_DIALECTS    3


/*
 * Every text is stored JSON-escaped, ready to be copied into a body: the
 * "_str" members are quoted JSON strings, "_block" a text content block
 * {"type":"text","text":...}, system_msg an OpenAI system message.  A
 * length 0 means the edit is not made.
 */

typedef struct {
    llmopt_str_t           name;
    unsigned               index;            /* in the policy's variants */
    unsigned               control:1;        /* the one others are tested
                                                against: the first */
    unsigned               system_replace:1; /* else prepended */

    llmopt_str_t           system_str;       /* "text" */
    llmopt_str_t           system_block;
    llmopt_str_t           system_msg;       /* {"role":"system",...} */
    llmopt_str_t           append_str;       /* "text" for the last user
                                                turn */
    llmopt_str_t           append_block;
    llmopt_str_t           examples;         /* message objects, comma-
                                                separated, no brackets */
    llmopt_str_t           response_format;  /* raw JSON (OpenAI only) */

    unsigned               dialects;         /* where it can be written */

    unsigned               line;
    unsigned               column;
} llmopt_variant_t;


#endif /* _LLMOPT_VARIANT_H_INCLUDED_ */
