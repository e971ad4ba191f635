/*
 * Copyright (C) llmopt authors
 *
 * The body of a feedback request: {"id": "<32 hex>", "score": 0..1} or
 * {"token": "<32 hex>.<64 hex>", "score": 0..1}.  Parsed here, judged
 * (secrets, pending table) by the caller.
 */

#ifndef _LLMOPT_FEEDBACK_H_INCLUDED_
#define _LLMOPT_FEEDBACK_H_INCLUDED_


#include <stddef.h>

#include "llmopt_core.h"
#include "llmopt_ring.h"


#define LLMOPT_FEEDBACK_MAX    4096          /* bytes of a body */


typedef enum {
    LLMOPT_FEEDBACK_ID = 0,                  /* "id" */
    LLMOPT_FEEDBACK_TOKEN                    /* "token": id and signature */
} llmopt_feedback_kind_e;


typedef struct {
    llmopt_feedback_kind_e  kind;
    double                  score;                  /* [0, 1] */
    unsigned char           id[LLMOPT_REQUEST_ID_LEN];
    char                    id_hex[32 + 1];         /* lower case */
    char                    sig_hex[64 + 1];        /* token only */
    const char             *code;            /* on error: "invalid_json",
                                                "invalid_score",
                                                "invalid_id" */
} llmopt_feedback_t;


/*
 * Parses body (not NUL-terminated); LLMOPT_OK with out filled, else
 * LLMOPT_ERROR with out->code and a message in err (status 400).  A token
 * wins over an id when both are given.  Never allocates; reads len bytes
 * only.
 */
int llmopt_feedback_parse(const unsigned char *body, size_t len,
    llmopt_feedback_t *out, llmopt_err_t *err);


#endif /* _LLMOPT_FEEDBACK_H_INCLUDED_ */
