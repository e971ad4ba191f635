// Loads the llmopt dashboard in headless Chromium (Debian's, driven by
// playwright-core), waits until its charts were drawn from the status it
// fetched, saves a screenshot and prints, as JSON: the console errors, the
// page errors, the failed requests, and what window.llmoptDashboard holds.
//
//   node t/browser/dashboard.mjs <url> <screenshot.png>

import { chromium } from 'playwright-core';
import fs from 'node:fs';

const [url, shot] = process.argv.slice(2);

if (!url || !shot) {
    console.error('usage: dashboard.mjs <url> <screenshot.png>');
    process.exit(2);
}

const exe = [process.env.LLMOPT_CHROMIUM, '/usr/lib/chromium/chromium',
             '/usr/bin/chromium'].find((p) => p && fs.existsSync(p));

if (!exe) {
    console.error('dashboard.mjs: no chromium (Debian package "chromium")');
    process.exit(2);
}

const out = { console_errors: [], page_errors: [], failed: [], requests: [] };

const browser = await chromium.launch({
    executablePath: exe,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
});

try {
    const page = await browser.newPage({ viewport: { width: 1280,
                                                     height: 1000 } });

    page.on('console', (m) => {
        if (m.type() === 'error') {
            out.console_errors.push(m.text());
        }
    });
    page.on('pageerror', (e) => out.page_errors.push(String(e)));
    page.on('requestfailed', (r) => out.failed.push(r.url()));
    page.on('request', (r) => out.requests.push(r.url()));

    const res = await page.goto(url, { waitUntil: 'load' });
    out.status = res.status();
    out.content_type = res.headers()['content-type'];
    out.csp = res.headers()['content-security-policy'];

    await page.waitForFunction(
        () => window.llmoptDashboard && window.llmoptDashboard.updated > 0,
        null, { timeout: 15000 });

    out.dashboard = await page.evaluate(() => {
        const d = window.llmoptDashboard;
        return { policy: d.policy, updated: d.updated, errors: d.errors,
                 charts: d.charts, arms: d.data.arms,
                 canvases: document.querySelectorAll('.uplot canvas').length,
                 summary_rows:
                     document.querySelectorAll('#summary tr').length - 1,
                 meta: document.getElementById('meta').textContent };
    });

    await page.screenshot({ path: shot, fullPage: true });
    out.screenshot = shot;
} finally {
    await browser.close();
}

process.stdout.write(JSON.stringify(out) + '\n');
