/** Tokens a service issues with a fixed prefix and shape. */
import { regexSpans, type Detector } from './text.js'

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
