import { $, $$, browser } from '@wdio/globals';
const race = (p: Promise<unknown>) => Promise.race([p.then(() => 'ok'), new Promise((r) => setTimeout(() => r('TIMEOUT'), 10000))]);
describe('debug', () => {
  it('variant', async () => {
    await browser.waitUntil(async () => (await $$('[data-testid="census-row"]').length) > 0, { timeout: 60000 });
    await browser.execute(() => (document.querySelector('[data-testid="census-row"] th') as HTMLElement).click());
    await $('[data-testid="allergy-banner"]').waitForDisplayed({ timeout: 20000 });
    await browser.execute(() => { document.querySelector('article.chart')?.remove(); });
    console.log('VARIANT shot:', await race(browser.saveScreenshot('/tmp/e2edbg/v.png')));
  });
});
