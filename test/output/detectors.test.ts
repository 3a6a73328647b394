import { Buffer } from 'node:buffer'
import t from 'tap'
import { detectFindings, FINDING_TYPES, type FindingType } from '../../src/output/index.js'

// Every fake secret is assembled at run time, so a secret scanner reading this file finds nothing.
const DASHES = '-'.repeat(5)
const pem = (label: string, body = 'MIIEow' + 'IBAAKCAQEA'.repeat(6)): string =>
  `${DASHES}BEGIN ${label}${DASHES}\n${body}\n${DASHES}END ${label}${DASHES}`
const AWS_KEY_ID = 'AKIA' + 'IOSFODNN7EXAMPLE'
const AWS_SECRET = 'wJalrXUtnFEMI/K7MDENG/' + 'bPxRfiCYEXAMPLEKEY'
const b64 = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url')
const JWT = [b64({ alg: 'HS256', typ: 'JWT' }), b64({ sub: '1234567890', name: 'Fake' }), 'SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV_adQssw5c'].join('.')

/** The matched text of each finding of `type`. */
function found (text: string, type: FindingType): string[] {
  return detectFindings(text).filter((f) => f.type === type).map((f) => text.slice(f.start, f.end))
}

const M = 1 << 20
/** About a megabyte of `unit` over and over: the shape a backtracking pattern chokes on. */
const fill = (unit: string): string => unit.repeat(Math.ceil(M / unit.length))

t.test('private_key: PEM private keys of every kind, through END or to the end of the text', async (t) => {
  for (const label of ['RSA PRIVATE KEY', 'EC PRIVATE KEY', 'OPENSSH PRIVATE KEY', 'DSA PRIVATE KEY', 'ENCRYPTED PRIVATE KEY', 'PRIVATE KEY', 'PGP PRIVATE KEY BLOCK']) {
    const key = pem(label)
    t.same(found(`before\n${key}\nafter`, 'private_key'), [key], label)
  }
  const open = `${DASHES}BEGIN RSA PRIVATE KEY${DASHES}\nMIIEowIBAAKCAQEA`
  t.same(found(`log: ${open}`, 'private_key'), [open], 'an unterminated key runs to the end of the text')
  const inJson = JSON.stringify({ key: pem('PRIVATE KEY') })
  t.equal(found(inJson, 'private_key').length, 1, 'a key escaped inside JSON is still one')
  const chain = `${pem('CERTIFICATE')}\n${pem('EC PRIVATE KEY')}`
  t.same(found(chain, 'private_key'), [pem('EC PRIVATE KEY')], 'a certificate ahead of the key is not part of it')
})

t.test('private_key: certificates, public keys and talk about keys are not', async (t) => {
  for (const text of [
    pem('CERTIFICATE'), pem('PUBLIC KEY'), pem('RSA PUBLIC KEY'), pem('CERTIFICATE REQUEST'), pem('PGP PUBLIC KEY BLOCK'),
    'load the PRIVATE KEY from the vault', `${DASHES}BEGIN private key${DASHES}`, `${DASHES}BEGIN ${DASHES}`
  ]) t.same(found(text, 'private_key'), [], text.slice(0, 40))
})

t.test('aws_access_key: key ids on word boundaries and secret key assignments', async (t) => {
  t.same(found(`aws_access_key_id=${AWS_KEY_ID}`, 'aws_access_key'), [AWS_KEY_ID])
  const sts = 'ASIA' + 'Y34FZKBOKMUTVV7A'
  t.same(found(`"AccessKeyId": "${sts}",`, 'aws_access_key'), [sts], 'temporary STS key ids')
  t.same(found(`aws_secret_access_key = ${AWS_SECRET}\n`, 'aws_access_key'), [AWS_SECRET], 'the value only, so the name survives redaction')
  t.same(found(`export AWS_SECRET_ACCESS_KEY=${AWS_SECRET}`, 'aws_access_key'), [AWS_SECRET])
  t.same(found(`{"SecretAccessKey": "${AWS_SECRET}"}`, 'aws_access_key'), [AWS_SECRET], 'as the AWS CLI prints it')
  t.same(found(`{\\"SecretAccessKey\\": \\"${AWS_SECRET}\\"}`, 'aws_access_key'), [AWS_SECRET], 'inside escaped JSON')
})

t.test('aws_access_key: near misses are not', async (t) => {
  for (const text of [
    AWS_KEY_ID.slice(0, -1), AWS_KEY_ID + 'X', 'X' + AWS_KEY_ID, AWS_KEY_ID.toLowerCase(), 'AKIB' + 'IOSFODNN7EXAMPLE',
    `aws_secret_access_key = ${AWS_SECRET.slice(1)}`, `aws_secret_access_key = ${AWS_SECRET}A`,
    'aws_secret_access_key = ' + 'a'.repeat(20), 'commit 9fceb02d0ae598e95dc970b74767f19372d61af8'
  ]) t.same(found(text, 'aws_access_key'), [], text)
})

t.test('github_token: classic and fine-grained tokens', async (t) => {
  for (const prefix of ['ghp_', 'gho_', 'ghu_', 'ghs_', 'ghr_']) {
    const token = prefix + 'A1b2C3'.repeat(6)
    t.same(found(`GITHUB_TOKEN=${token}`, 'github_token'), [token], prefix)
  }
  const pat = 'github_pat_' + '11ABCDEFG0' + 'x'.repeat(12) + '_' + 'Yz9'.repeat(19) + 'q0'
  t.same(found(`Authorization: token ${pat}`, 'github_token'), [pat])
})

t.test('github_token: short, unknown or embedded lookalikes are not', async (t) => {
  for (const text of [
    'ghp_' + 'a'.repeat(35), 'ghx_' + 'a'.repeat(36), 'xghp_' + 'a'.repeat(36), 'ghp_' + 'a'.repeat(256), 'github_pat_' + 'a'.repeat(10),
    'commit 9fceb02d0ae598e95dc970b74767f19372d61af8', 'see https://github.com/org/repo/pull/12'
  ]) t.same(found(text, 'github_token'), [], text.slice(0, 40))
})

t.test('slack_token: tokens and webhook URLs', async (t) => {
  for (const kind of 'abposr') {
    const token = `xox${kind}-` + '1234567890-1234567890-' + 'AbCdEfGh'.repeat(3)
    t.same(found(`SLACK=${token} next`, 'slack_token'), [token], `xox${kind}`)
  }
  const hook = 'https://hooks.slack' + '.com/services/' + 'T0AB12CD3/B0EF45GH6/' + 'aBcD1234'.repeat(3)
  t.same(found(`curl -X POST ${hook} -d @msg.json`, 'slack_token'), [hook])
})

t.test('slack_token: short, unknown or partial lookalikes are not', async (t) => {
  for (const text of [
    'xoxb-123', 'xoxz-' + '1234567890'.repeat(3), 'boxoxb-' + '1'.repeat(20), 'https://hooks.slack' + '.com/services/',
    'https://slack.com/services/T0AB12CD3/B0EF45GH6/' + 'a'.repeat(24), 'xox' + 'b'
  ]) t.same(found(text, 'slack_token'), [], text)
})

t.test('jwt: three segments whose header and payload decode to JSON objects, the header naming alg', async (t) => {
  t.same(found(`Authorization: Bearer ${JWT}`, 'jwt'), [JWT])
  const unsigned = `${b64({ alg: 'none' })}.${b64({ sub: 'x' })}.`
  t.same(found(`token ${unsigned} end`, 'jwt'), [unsigned], 'an unsigned token ends at its empty signature')
  t.same(found(`a-${JWT}`, 'jwt'), [JWT], 'after a dash')
  const junk = `eyJ${'q'.repeat(5)}`
  t.same(found(`${junk}.${JWT}`, 'jwt'), [JWT], 'found after a junk segment')
})

t.test('jwt: eyJ junk and near misses are not', async (t) => {
  for (const text of [
    'eyJhbGciOi.eyJzdWIi.abc', `${b64({ typ: 'JWT' })}.${b64({ sub: 'x' })}.sig`, `${b64({ alg: 'HS256' })}.${b64([1, 2])}.sig`,
    `${b64({ alg: 'HS256' })}.${b64({ sub: 'x' })}`, `${b64({ alg: 'HS256' })}.notjson.sig`, 'monkeyJump.eyJx.y', `x${JWT}`,
    `${b64({ alg: 'HS256' })}.${Buffer.from('{"sub": "x"').toString('base64url')}.sig`, `${Buffer.from('{"alg" oops}').toString('base64url')}.${b64({ sub: 'x' })}.sig`
  ]) t.same(found(text, 'jwt'), [], text.slice(0, 50))
})

t.test('password_assignment: the value of a secret-named assignment, quoted or bare', async (t) => {
  const pw = 'hunter' + '2'
  const cases: Array<[string, string]> = [
    [`password=${pw}`, pw], [`DB_PASSWORD=${pw}\n`, pw], [`passwd: ${pw}`, pw], [`"password": "${pw}"`, pw],
    [`{\\"password\\": \\"${pw}\\"}`, pw], [`client_secret => '${pw}'`, pw], [`api_key:${pw}`, pw], [`x-api-key: ${pw}`, pw],
    [`apikey = ${pw};`, pw], [`ACCESS_TOKEN=${pw}&next=1`, pw], [`Server=db;Uid=sa;Pwd=${pw};`, pw], [`SECRET_KEY = '${pw}'`, pw],
    [`https://x.test/cb?token=${pw}"`, pw], [`password := "${pw}"`, pw], ['password=changeme', 'changeme'], ['secret: "p\\"w"', 'p\\"w'],
    [`token: "${pw}`, pw], [`{\\"url\\": \\"https://x.test/?token=${pw}\\"}`, pw]
  ]
  for (const [text, value] of cases) t.same(found(text, 'password_assignment'), [value], text)
})

t.test('password_assignment: empty, masked, placeholder and referenced values, and names that go on, are not', async (t) => {
  for (const text of [
    'password=', 'password= \n', 'password=""', "token: ''", 'password: null', 'secret: None', 'password: ********', 'password=<redacted>',
    'password=[REDACTED:password_assignment]', 'password=$' + '{DB_PASSWORD}', 'password=$DB_PASSWORD', 'password=$(cat /run/pw)', 'token: {{ .Values.token }}',
    'password=%DB_PASSWORD%', 'password: <your password>', 'password: XXXXXXXX', 'password: ...', 'require_password: true',
    'password_policy=strict', 'max_tokens=4096', 'tokenizer: bpe', 'secretary: Bob', '<input type="password" name="password">',
    'docker login --password-stdin', 'PWD=/home/agent/work', 'if (password == other)', 'Token::Kind', 'password: string',
    'the password is in the vault', 'password\n: x'
  ]) t.same(found(text, 'password_assignment'), [], text)
})

t.test('card_number: Luhn-valid numbers with a known prefix, plain or grouped', async (t) => {
  const cases: Array<[string, string]> = [
    ['card 4242 4242 4242 4242 exp 12/30', '4242 4242 4242 4242'], ['pan=4111111111111111;', '4111111111111111'],
    ['5555-5555-5555-4444', '5555-5555-5555-4444'], ['amex 3782 822463 10005', '3782 822463 10005'], ['2223003122003222', '2223003122003222'],
    ['6011111111111117.', '6011111111111117'], ['2024-01-15 4111 1111 1111 1111 paid', '4111 1111 1111 1111'], ['4222222222222', '4222222222222'],
    ['"4111111111111111","5555555555554444"', '4111111111111111']
  ]
  for (const [text, card] of cases) t.same(found(text, 'card_number')[0], card, text)
  t.equal(found('4111111111111111,5555555555554444', 'card_number').length, 2)
})

t.test('card_number: a grouped card is found whatever digit groups come before or after it', async (t) => {
  const visa = '4111 1111 1111 1111'
  const cases: Array<[string, string[]]> = [
    [`card ${visa} 12/26 123`, [visa]], [`${visa} 5500 0000 0000 0004`, [visa, '5500 0000 0000 0004']],
    [`amount 10 ${visa}`, [visa]], ['4111-1111-1111-1111-99', ['4111-1111-1111-1111']], [`${visa} 1111 1`, [visa]],
    [`2024 01 15 ${visa} 99`, [visa]], ['ref 3782 822463 10005 12', ['3782 822463 10005']],
    // Both the 16 and the 19 digits are Luhn-valid Visa numbers: the longer one is the card.
    [`${visa} 003 7`, [`${visa} 003`]]
  ]
  for (const [text, cards] of cases) t.same(found(text, 'card_number'), cards, text)
  const many = Array.from({ length: 12 }, (_, i) => i % 2 === 0 ? visa : '5500 0000 0000 0004')
  t.same(found(many.join(' '), 'card_number'), many, 'a dozen cards in one chain, however long it runs')
})

t.test('card_number: adjacent digit groups that hold no card are not one', async (t) => {
  for (const text of [
    '1234 5678 9012 3456 7890', '0000 1234 5678 9012 3456 7890', 'call 415 555 2671 15 01 2024', '+44 20 7946 0958 2024 06 30',
    '555-867-5309-2024-01-15', '4111 1111 1111 1112 99', '12/26 123 4111 1111 1111 1112', '2024 01 15 4111 1111 1111 1112 12',
    'id4111 1111 1111 1111 22', '0.4111 1111 1111 1111 22', '10 4111 1111 1111 1111abc', 'sizes 4096 2048 1024 512 256 128'
  ]) t.same(found(text, 'card_number'), [], text)
})

t.test('card_number: numbers that only look like cards are not', async (t) => {
  for (const text of [
    '4111111111111112', '1234567812345670', '41111111111111111111111', '0.4111111111111111', '4111111111111111.5',
    'id4111111111111111', '4111111111111111_x', '4444 4444 4444 4444', '123e4567-e89b-12d3-a456-426614174000', 'order ORD-2024-000123',
    '+1 415 555 2671', 'ts=1700000000000', 'DE89 3704 0044 0532 0130 00', '1234 5678 9012 3456 7890', '4111 11111111 1111', '41-11-11-11-11-11-11-11',
    'commit 9fceb02d0ae598e95dc970b74767f19372d61af8', 'v1.2.3', '4111 1111-1111 1111', '3782822463100051'
  ]) t.same(found(text, 'card_number'), [], text)
})

t.test('email: conservative addresses on word boundaries', async (t) => {
  const cases: Array<[string, string]> = [
    ['mail alice@example.com.', 'alice@example.com'], ['<bob.smith+tag@mail.example.co.uk>', 'bob.smith+tag@mail.example.co.uk'],
    ['"user_1@sub-domain.example.org"', 'user_1@sub-domain.example.org'], ['mailto:x.y@example.io', 'x.y@example.io'],
    ['from: a@b.co: see above', 'a@b.co'], ['...dot@example.com', 'dot@example.com']
  ]
  for (const [text, address] of cases) t.same(found(text, 'email'), [address], text)
})

t.test('email: hosts, packages, versions and files are not', async (t) => {
  for (const text of [
    'user@localhost', 'pkg@1.2.3', 'lodash@latest', '@scope/name', 'logo@2x.png', 'git@github.com:org/repo.git', 'a@b.c', 'name@-bad.com',
    'a.@example.com', 'image@sha256:abc', '@decorator', 'a@b.com@c', 'x@' + 'a'.repeat(300) + '.com', 'a'.repeat(65) + '@example.com'
  ]) t.same(found(text, 'email'), [], text.slice(0, 40))
})

t.test('findings carry 1-based line and column of their start, in UTF-16 units', async (t) => {
  const text = `first line\n  \u{1F600} mail a@b.co\r\n\tpassword=x\n${AWS_KEY_ID}`
  t.same(detectFindings(text).map(({ type, line, column }) => [type, line, column]), [
    ['email', 2, 11], ['password_assignment', 3, 11], ['aws_access_key', 4, 1]
  ])
  t.same(detectFindings(''), [])
  const both = detectFindings(`token=${JWT}`)
  t.same(both.map((f) => f.type), ['jwt', 'password_assignment'], 'the same span found twice is kept twice, in type order')
})

t.test('every detector stays linear on adversarial megabyte inputs', async (t) => {
  const adversarial: Record<FindingType, string[]> = {
    private_key: [fill(`${DASHES}BEGIN `), fill(`${DASHES}BEGIN RSA PRIVATE KEY${DASHES}`), fill(`${DASHES}END RSA PRIVATE KEY${DASHES}`), fill(`${DASHES}BEGIN CERTIFICATE${DASHES}\n`)],
    aws_access_key: [fill('AKIA'), fill('AKIA-'), 'secret_access_key=' + ' '.repeat(M), fill('secret_access_key: ')],
    github_token: ['ghp_' + 'a'.repeat(M), fill('-ghp_' + 'a'.repeat(300)), fill('github_pat_')],
    slack_token: [fill('xoxb-'), fill('xoxb-aaaaaaaaa '), fill('https://hooks.slack.com/services/T12345678/B12345678/')],
    stripe_key: ['sk_live_' + 'a'.repeat(M), fill('sk_live_'), fill('rk_live_aaaaaaaaaaaaaaaaaaaaaaa ')],
    stripe_test_key: ['sk_test_' + 'a'.repeat(M), fill('sk_test_')],
    openai_key: [fill('sk-aaaaaaaaaaaaaaaaaaaaT3BlbkFJ'), fill('sk-proj-'), 'sk-proj-' + 'a'.repeat(M)],
    anthropic_key: [fill('sk-ant-'), 'sk-ant-' + 'a'.repeat(M), fill('sk-ant-api03-')],
    google_api_key: [fill('AIza'), fill('AIza' + 'a'.repeat(34) + ' ')],
    azure_storage_key: [fill('AccountKey='), fill('AccountKey=' + 'A'.repeat(85) + ';')],
    npm_token: [fill('npm_'), 'npm_' + 'a'.repeat(M)],
    pypi_token: [fill('pypi-AgEIcHlwaS5vcmc'), 'pypi-AgEIcHlwaS5vcmc' + 'a'.repeat(M)],
    gitlab_token: [fill('glpat-'), 'glpat-' + 'a'.repeat(M), fill('glpat-aaaaaaaaaaaaaaaaaaaa.')],
    connection_string: [fill('postgres://'), 'postgres://' + 'u:p@'.repeat(M / 4), fill('redis://:'), 'mysql://' + ':'.repeat(M)],
    jwt: [fill('-eyJ'), 'eyJ' + 'a'.repeat(M), fill('eyJa.'), fill(`${b64({ alg: 'HS256' })}.`)],
    generic_secret: [fill('api_key='), 'secret=' + 'a1'.repeat(M / 2), fill('token: a1b2c3d4e5f6g7h8i9j0k '), '"auth": "' + 'x-1'.repeat(M / 3)],
    password_assignment: [fill('password='), 'password' + ' '.repeat(M), '"password": "' + 'a'.repeat(M), fill('password'), fill('token:'), fill('password=${')],
    card_number: [fill('4'), fill('4111 '), fill('1 '), fill('4111111111111111 '), fill('0.'), fill('12-'), fill('4111 1 1 1 1 1 1 1 1 1 1 1 1 1 1 1 '), fill('4111 1111 1111 1112 ')],
    email: ['a'.repeat(M) + '@', fill('@'), fill('a'.repeat(63) + '@'), fill('a@'), 'a@' + fill('b.'), fill('a@b.co ')]
  }
  for (const type of FINDING_TYPES) {
    for (const text of adversarial[type]) t.ok(Array.isArray(detectFindings(text)), `${type}: ${JSON.stringify(text.slice(0, 24))}…`)
  }
})
