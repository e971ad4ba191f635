// Drives the official OpenAI SDK against a base URL (nginx in front of a
// provider or a mock):
//
//   node openai.mjs [BASE_URL [MODEL]]
//
// BASE_URL defaults to $OPENAI_BASE_URL (it ends in /v1), MODEL to
// $LLMOPT_SDK_MODEL or "auto".  Makes one call not streaming, one streaming,
// and one streaming with stream_options.include_usage; prints one JSON line
// on stdout:
//   {"json":   {model, text, finish_reason, usage},
//    "stream": {model, text, finish_reason, usage, chunks},
//    "stream_usage": {...same...}}
// and exits 1 on any SDK error (the message goes to stderr).

import OpenAI from 'openai';

const baseURL = process.argv[2] ?? process.env.OPENAI_BASE_URL;
const model = process.argv[3] ?? process.env.LLMOPT_SDK_MODEL ?? 'auto';

async function main() {
    if (!baseURL) {
        throw new Error('usage: node openai.mjs BASE_URL [MODEL]');
    }

    const client = new OpenAI({
        baseURL,
        apiKey: process.env.OPENAI_API_KEY ?? 'sk-client-side',
        maxRetries: 0, timeout: 20000,
    });
    const messages = [{ role: 'user', content: 'Write a haiku about nginx.' }];
    const out = {};

    const completion = await client.chat.completions.create({
        model, messages, temperature: 0.7,
    });
    out.json = {
        model: completion.model,
        text: completion.choices[0].message.content,
        finish_reason: completion.choices[0].finish_reason,
        usage: completion.usage ?? null,
    };

    const variants = [
        ['stream', {}],
        ['stream_usage', { stream_options: { include_usage: true } }],
    ];

    for (const [name, extra] of variants) {
        const stream = await client.chat.completions.create({
            model, messages, stream: true, ...extra,
        });
        const r = { model: null, text: '', finish_reason: null, usage: null,
                    chunks: 0 };
        for await (const chunk of stream) {
            r.chunks++;
            r.model = chunk.model;
            if (chunk.usage) {
                r.usage = chunk.usage;
            }
            if (chunk.choices.length > 0) {
                r.text += chunk.choices[0].delta.content ?? '';
                r.finish_reason = chunk.choices[0].finish_reason
                                  ?? r.finish_reason;
            }
        }
        out[name] = r;
    }

    process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
    process.stderr.write(`openai.mjs: ${e.name}: ${e.message}\n`);
    process.exit(1);
});
