/*
 * Copyright (C) llmopt authors
 *
 * The exact cache (llmopt_cache.c): a policy's rule for what may be
 * cached, the decision per request, and the key of a request as its
 * upstream will see it after routing, for nginx's proxy_cache.
 */

#ifndef _LLMOPT_CACHE_H_INCLUDED_
#define _LLMOPT_CACHE_H_INCLUDED_


#include "llmopt_core.h"
#include "llmopt_json.h"
#include "llmopt_request.h"


#define LLMOPT_CACHE_NEVER         0      /* the default: no rule */
#define LLMOPT_CACHE_ALWAYS        1
#define LLMOPT_CACHE_TEMPERATURE   2      /* temperature_le: x */

#define LLMOPT_CACHE_MAX_EXCLUDE   16
#define LLMOPT_CACHE_KEY_LEN       64     /* hex digits of a SHA-256 */

/*
 * A provider's temperature when the request states none: OpenAI's and
 * Anthropic's default is 1.
 */
#define LLMOPT_CACHE_DEFAULT_TEMPERATURE  1.0


/*
 * A policy's "cache" rule.  exclude names the members of the body's root
 * object left out of the key besides "stream" and "stream_options",
 * which always are; by default "user" and "metadata".
 */

typedef struct {
    unsigned               when;             /* LLMOPT_CACHE_* */
    double                 temperature_max;  /* with TEMPERATURE */
    uint64_t               ttl_ms;           /* 0: proxy_cache_valid's */
    unsigned               shared;           /* 1: one cache for every
                                                tenant key */
    llmopt_str_t           exclude[LLMOPT_CACHE_MAX_EXCLUDE];
    unsigned               n_exclude;
} llmopt_cache_conf_t;


/* What the client's Cache-Control asks (llmopt_cache_control()). */

#define LLMOPT_CACHE_CLIENT_NO_CACHE  0x01   /* no answer from the cache */
#define LLMOPT_CACHE_CLIENT_NO_STORE  0x02   /* nor into it */


/* What the decision looks at. */

typedef struct {
    double                 temperature;      /* of the body as sent, -1:
                                                none stated */
    unsigned               client;           /* LLMOPT_CACHE_CLIENT_* */
    unsigned               stream:1;         /* the body as sent streams */
    unsigned               shadow:1;         /* shadow mode: the client's
                                                body as it came */
} llmopt_cache_request_t;


typedef struct {
    unsigned               keyed:1;          /* the rule lets it be cached:
                                                it has a key */
    unsigned               lookup:1;         /* may be served from it */
    unsigned               store:1;          /* its answer may be stored,
                                                if it is a whole success */
    const char            *why;              /* why not keyed, a word:
                                                "rule", "temperature",
                                                "stream", "shadow"; NULL */
} llmopt_cache_decision_t;


/* The rule of a policy that states none: nothing is cached. */
void llmopt_cache_conf_defaults(llmopt_cache_conf_t *conf);

/*
 * The directives of a Cache-Control header value that concern the cache:
 * "no-cache" (and "max-age=0", which asks the same) and "no-store", case
 * insensitive, in a comma-separated list; LLMOPT_CACHE_CLIENT_* bits.
 */
unsigned llmopt_cache_control(const char *value, size_t len);

/*
 * May this request be cached, served from the cache, its answer stored?
 * A request with no key is neither looked up nor stored (an empty key
 * would be one entry for all of them).  Pure: the glue and the replay
 * ask the same.
 */
void llmopt_cache_decide(const llmopt_cache_conf_t *conf,
    const llmopt_cache_request_t *req, llmopt_cache_decision_t *d);

/*
 * Whether an answer with the HTTP status may be stored: a stored
 * decision and a 200.  (A body nginx did not read to its end, it never
 * stores.)
 */
int llmopt_cache_storable(const llmopt_cache_decision_t *d, unsigned status);

/*
 * The "temperature" of the root object of a parsed body, -1 when absent
 * or null, or not a number.
 */
double llmopt_cache_temperature(const unsigned char *body,
    const llmopt_json_tok_t *toks, unsigned ntoks);


/* 1 when the root of a parsed body has "stream": true. */
int llmopt_cache_streams(const unsigned char *body,
    const llmopt_json_tok_t *toks, unsigned ntoks);

/*
 * The body without its root members "stream" and "stream_options" (every
 * occurrence): the request a cacheable stream sends upstream, so that
 * every entry is a JSON answer (llmopt_sse_replay() streams it).  Writes
 * into out (room for the body's length: it never grows; out may be body
 * itself) and returns the bytes written; the members kept are copied as they are, with nothing
 * between them but a comma.  Never allocates.
 */
size_t llmopt_cache_unstream(const unsigned char *body,
    const llmopt_json_tok_t *toks, unsigned ntoks, unsigned char *out);


/* Who may share an entry, besides the body. */

typedef struct {
    llmopt_dialect_e       dialect;          /* of the upstream's API */
    llmopt_str_t           upstream;         /* the arm's */
    llmopt_str_t           tenant;           /* the tenant key; not used
                                                when the rule is shared */
} llmopt_cache_scope_t;

/*
 * The canonical text of a parsed body (llmopt_json_parse() tokens): no
 * whitespace, every object's members sorted by key, strings with their
 * escapes decoded and only '"', '\\' and control bytes escaped (\u00XX
 * for those but \" and \\), numbers, true, false and null as written;
 * the root's members of conf's exclude list, "stream" and
 * "stream_options" left out.  Two bodies a JSON reader takes for the same
 * request have the same text, whatever their key order and whitespace.
 *
 * out may be NULL to count; *len is set to the text's length.  scratch
 * holds ntoks indices.  Returns LLMOPT_OK, or LLMOPT_DECLINED for a body
 * no key is made of: an object with a key written with an escape or
 * repeated (what it means depends on the reader).  Never allocates; the
 * recursion is as deep as the body's nesting.
 */
int llmopt_cache_canonical(const llmopt_cache_conf_t *conf,
    const unsigned char *body, const llmopt_json_tok_t *toks,
    unsigned ntoks, unsigned *scratch, unsigned char *out, size_t *len);

/*
 * The key: SHA-256, in lower-case hex, of the scope (dialect, upstream,
 * and the tenant key unless conf->shared) and the canonical text of the
 * body, each field preceded by its length.  SHA-256 and not the core's
 * 64-bit hash: a collision would serve one request another's answer, and
 * clients choose the bodies.  key has room for LLMOPT_CACHE_KEY_LEN + 1
 * bytes (NUL-terminated).  LLMOPT_OK or LLMOPT_DECLINED as above.
 */
int llmopt_cache_key(const llmopt_cache_conf_t *conf,
    const llmopt_cache_scope_t *scope, const unsigned char *body,
    const llmopt_json_tok_t *toks, unsigned ntoks, unsigned *scratch,
    char *key);


#endif /* _LLMOPT_CACHE_H_INCLUDED_ */
