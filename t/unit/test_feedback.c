/*
 * Copyright (C) llmopt authors
 *
 * The feedback body parser: ids, tokens, scores, and what is refused.
 */

#include <string.h>

#include "tap.h"
#include "llmopt_feedback.h"


static int
parse(const char *body, llmopt_feedback_t *fb)
{
    llmopt_err_t  err;

    memset(&err, 0, sizeof(err));

    return llmopt_feedback_parse((const unsigned char *) body, strlen(body),
                                 fb, &err);
}


int
main(void)
{
    unsigned           i;
    llmopt_feedback_t  fb;
    char               big[LLMOPT_FEEDBACK_MAX + 64];

    static const struct {
        const char  *body;
        const char  *code;
    } bad[] = {
        { "", "invalid_json" },
        { "[]", "invalid_json" },
        { "{\"id\":", "invalid_json" },
        { "{\"score\":1,}", "invalid_json" },
        { "{\"id\":\"00112233445566778899aabbccddeeff\"}", "invalid_score" },
        { "{\"id\":\"00112233445566778899aabbccddeeff\",\"score\":\"1\"}",
          "invalid_score" },
        { "{\"id\":\"00112233445566778899aabbccddeeff\",\"score\":1.5}",
          "invalid_score" },
        { "{\"id\":\"00112233445566778899aabbccddeeff\",\"score\":-0.1}",
          "invalid_score" },
        { "{\"id\":\"00112233445566778899aabbccddeeff\",\"score\":1e400}",
          "invalid_score" },
        { "{\"score\":0.5}", "invalid_id" },
        { "{\"id\":12,\"score\":0.5}", "invalid_id" },
        { "{\"id\":\"0011\",\"score\":0.5}", "invalid_id" },
        { "{\"id\":\"00112233445566778899aabbccddeefg\",\"score\":0.5}",
          "invalid_id" },
        { "{\"token\":\"00112233445566778899aabbccddeeff\",\"score\":0.5}",
          "invalid_id" },
        { "{\"token\":\"00112233445566778899aabbccddeeff-"
          "0000000000000000000000000000000000000000000000000000000000000000"
          "\",\"score\":0.5}", "invalid_id" },
    };

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        is_int(parse(bad[i].body, &fb), LLMOPT_ERROR, "refused: %s",
               bad[i].body);
        is_str(fb.code, bad[i].code, "... as %s", bad[i].code);
    }

    is_int(parse("{\"id\":\"00112233445566778899AABBCCDDEEFF\","
                 "\"score\":0.25}", &fb), LLMOPT_OK, "an id");
    is_int(fb.kind, LLMOPT_FEEDBACK_ID, "... kind id");
    is_str(fb.id_hex, "00112233445566778899aabbccddeeff", "... lower case");
    is_int(fb.id[0], 0x00, "... byte 0");
    is_int(fb.id[15], 0xff, "... byte 15");
    is_num(fb.score, 0.25, 0, "... score");

    is_int(parse("{\"score\":1,\"token\":\"00112233445566778899aabbccddeeff."
                 "0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789"
                 "abcdef\",\"id\":\"x\"}", &fb), LLMOPT_OK,
           "a token wins over an id");
    is_int(fb.kind, LLMOPT_FEEDBACK_TOKEN, "... kind token");
    is_str(fb.sig_hex, "0123456789abcdef0123456789abcdef0123456789abcdef"
                       "0123456789abcdef", "... signature, lower case");

    is_int(parse("{\"id\":\"00112233445566778899aabbccddeeff\",\"score\":0}",
                 &fb), LLMOPT_OK, "score 0");
    is_int(parse("{\"id\":\"00112233445566778899aabbccddeeff\",\"score\":1E0}",
                 &fb), LLMOPT_OK, "score 1E0");

    memset(big, ' ', sizeof(big));
    memcpy(big, "{\"score\":1}", 11);
    is_int(llmopt_feedback_parse((unsigned char *) big, sizeof(big), &fb,
                                 NULL), LLMOPT_ERROR, "over 4096 bytes");

    return tap_done();
}
