/** Debian's Chromium, as the console's browser tests and screenshot script launch it (playwright-core, headless). */
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'
/** No sandbox (root in CI), no GPU, and no background traffic: this machine's network is closed. */
export const LAUNCH_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
