/** Tokens a service issues with a fixed prefix and shape. */
import { regexSpans, shannonEntropy, type Detector, type Span } from './text.js'

const AWS_KEY_ID = /\b(?:AKIA|ASIA|AGPA|AIDA|AROA|AIPA|ANPA|ANVA|AKPA)[A-Z0-9]{16}\b/g
// `aws_secret_access_key = …`, `AWS_SECRET_ACCESS_KEY=…`, `"SecretAccessKey": "…"`, also inside escaped JSON.
const AWS_SECRET = /secret[_-]?access[_-]?key\\?["']?[ \t]{0,32}(?:=>|:=|=|:)[ \t]{0,32}\\?["']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])/gi

export const findAwsKeys: Detector = (text) => [...regexSpans(text, AWS_KEY_ID), ...regexSpans(text, AWS_SECRET, 40)]

const GITHUB_TOKEN = /\bgh[pousr]_[A-Za-z0-9]{36,255}\b/g
const GITHUB_PAT = /\bgithub_pat_[A-Za-z0-9_]{22,255}\b/g
export const findGithubTokens: Detector = (text) => [...regexSpans(text, GITHUB_TOKEN), ...regexSpans(text, GITHUB_PAT)]

// Nothing follows the open-ended class, so a match never backtracks into it.
const SLACK_TOKEN = /\bxox[abposr]-[A-Za-z0-9-]{10,}/g
const SLACK_WEBHOOK = /\bhttps?:\/\/hooks\.slack\.com\/services\/T[A-Z0-9]{6,16}\/B[A-Z0-9]{6,16}\/[A-Za-z0-9]{16,64}\b/g
export const findSlackTokens: Detector = (text) => [...regexSpans(text, SLACK_TOKEN), ...regexSpans(text, SLACK_WEBHOOK)]

/** Matches of `re` that are not a placeholder such as `npm_xxxx…`: issued tokens are random. */
function randomSpans (text: string, re: RegExp, valueLength = 0): Span[] {
  return regexSpans(text, re, valueLength).filter((s) => shannonEntropy(text.slice(s.start, s.end)) >= 3)
}

// Secret (`sk_`) and restricted (`rk_`) keys: 24 characters in older accounts, 99 in newer ones.
// Publishable keys (`pk_`) are meant to be public.
const STRIPE_LIVE = /\b[rs]k_live_[0-9A-Za-z]{24,}/g
const STRIPE_TEST = /\b[rs]k_test_[0-9A-Za-z]{24,}/g
export const findStripeKeys: Detector = (text) => randomSpans(text, STRIPE_LIVE)
export const findStripeTestKeys: Detector = (text) => randomSpans(text, STRIPE_TEST)

// Legacy user keys: 48 letters and digits with `T3BlbkFJ` ("OpenAI" in base64) at the same place.
const OPENAI_LEGACY = /\bsk-[A-Za-z0-9]{20}T3BlbkFJ[A-Za-z0-9]{20}(?![\w-])/g
// Project, service-account and admin keys: base64url of about 160 characters.
const OPENAI_KEY = /\bsk-(?:proj|svcacct|admin|None)-[A-Za-z0-9_-]{40,}/g
export const findOpenAiKeys: Detector = (text) => [...randomSpans(text, OPENAI_LEGACY), ...randomSpans(text, OPENAI_KEY)]

// `sk-ant-api03-…`, `sk-ant-admin01-…`, `sk-ant-oat01-…`: a kind, a version, then base64url.
const ANTHROPIC_KEY = /\bsk-ant-[a-z]{2,12}\d{2}-[A-Za-z0-9_-]{32,}/g
export const findAnthropicKeys: Detector = (text) => randomSpans(text, ANTHROPIC_KEY)

const GOOGLE_API_KEY = /\bAIza[0-9A-Za-z_-]{35}(?![\w-])/g
export const findGoogleApiKeys: Detector = (text) => randomSpans(text, GOOGLE_API_KEY)

// In a storage connection string: 64 random bytes in base64 (88 characters); the finding is the key.
const AZURE_ACCOUNT_KEY = /\bAccountKey=[A-Za-z0-9+/]{86}==(?![A-Za-z0-9+/=])/gi
export const findAzureStorageKeys: Detector = (text) => randomSpans(text, AZURE_ACCOUNT_KEY, 88)

const NPM_TOKEN = /\bnpm_[A-Za-z0-9]{36}(?![A-Za-z0-9])/g
export const findNpmTokens: Detector = (text) => randomSpans(text, NPM_TOKEN)

// API tokens are macaroons for pypi.org or test.pypi.org: their base64 starts with the host's name.
const PYPI_TOKEN = /\bpypi-(?:AgEIcHlwaS5vcmc|AgENdGVzdC5weXBpLm9yZw)[A-Za-z0-9_-]{50,}/g
export const findPypiTokens: Detector = (text) => randomSpans(text, PYPI_TOKEN)

// Personal access tokens: 20 characters, or since GitLab 17 a longer routable one ending `.<2><7>`.
const GITLAB_PAT = /\bglpat-[A-Za-z0-9_-]{20,}(?:\.[0-9a-z]{9}(?![\w-]))?/g
export const findGitlabTokens: Detector = (text) => randomSpans(text, GITLAB_PAT)
