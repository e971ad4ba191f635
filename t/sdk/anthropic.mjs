// Drives the official Anthropic SDK against a base URL (nginx in front of a
// provider or a mock):
//
//   node anthropic.mjs [BASE_URL [MODEL]]
//
// BASE_URL defaults to $ANTHROPIC_BASE_URL (without /v1), MODEL to
// $LLMOPT_SDK_MODEL or "auto".  Sends one message not streaming and one
// streaming; prints one JSON line on stdout:
//   {"json":   {model, text, stop_reason, usage},
//    "stream": {model, text, stop_reason, usage, events: [type, ...],
//               event_count}}
// and exits 1 on any SDK error (the message goes to stderr).

import Anthropic from '@anthropic-ai/sdk';

const baseURL = process.argv[2] ?? process.env.ANTHROPIC_BASE_URL;
const model = process.argv[3] ?? process.env.LLMOPT_SDK_MODEL ?? 'auto';

function text(message) {
    return message.content.map((b) => (b.type === 'text' ? b.text : ''))
                          .join('');
}

async function main() {
    if (!baseURL) {
        throw new Error('usage: node anthropic.mjs BASE_URL [MODEL]');
    }

    const client = new Anthropic({
        baseURL,
        apiKey: process.env.ANTHROPIC_API_KEY ?? 'sk-ant-client-side',
        maxRetries: 0, timeout: 20000,
    });
    const request = {
        model, max_tokens: 128, system: 'Be brief.',
        messages: [{ role: 'user', content: 'Name three HTTP methods.' }],
    };
    const out = {};

    const message = await client.messages.create(request);
    out.json = {
        model: message.model,
        text: text(message),
        stop_reason: message.stop_reason,
        usage: message.usage,
    };

    const stream = client.messages.stream(request);
    const events = [];
    stream.on('streamEvent', (e) => events.push(e.type));
    const final = await stream.finalMessage();
    out.stream = {
        model: final.model,
        text: text(final),
        stop_reason: final.stop_reason,
        usage: final.usage,
        events,
        event_count: events.length,
    };

    process.stdout.write(JSON.stringify(out) + '\n');
}

main().catch((e) => {
    process.stderr.write(`anthropic.mjs: ${e.name}: ${e.message}\n`);
    process.exit(1);
});
