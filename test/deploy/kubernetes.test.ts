import path from 'node:path'
import t, { type Test } from 'tap'
import type { IServiceMonitor } from '@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor'
import type { IDeployment } from 'kubernetes-models/apps/v1/Deployment'
import type { ICronJob } from 'kubernetes-models/batch/v1/CronJob'
import type { IPodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget'
import type { IConfigMap } from 'kubernetes-models/v1/ConfigMap'
import type { IContainer } from 'kubernetes-models/v1/Container'
import type { IService } from 'kubernetes-models/v1/Service'
import { loadConfig } from '../../src/config.js'
import { compilePolicy, formatProblem } from '../../src/policy/index.js'
import { find, KUBERNETES_DIR, kubectlVersion, render, renderWithComponents, schemaProblems, type K8sObject } from './fixtures/kustomize.js'

const KUBECTL = kubectlVersion()
// Only a missing renderer skips; an old one that cannot render these trees fails, naming itself.
const skip = KUBECTL === undefined ? 'kubectl is not on PATH: `kubectl kustomize` renders these manifests (.ci/run installs it)' : false
t.comment(KUBECTL ?? 'no kubectl')

const BASE = path.join(KUBERNETES_DIR, 'base')
const EXAMPLE = path.join(KUBERNETES_DIR, 'overlays', 'example')

function must<T> (value: T | undefined | null, what: string): T {
  if (value === undefined || value === null) throw new Error(`missing: ${what}`)
  return value
}

/** Arbiter's configuration as the container would load it, with stand-ins for the Secret's values. */
function containerConfig (container: IContainer): ReturnType<typeof loadConfig> {
  const env: Record<string, string> = {}
  for (const e of container.env ?? []) {
    if (e.value !== undefined) env[e.name] = e.value
    else if (e.valueFrom?.secretKeyRef !== undefined) env[e.name] = e.name === 'DATABASE_URL' ? 'postgres://arbiter@db:5432/arbiter' : 'x'.repeat(43)
  }
  return loadConfig(env, '/app')
}

/** The checks every rendering of the base must pass, overlays included. */
function checkRendering (t: Test, objects: K8sObject[]): void {
  t.same(objects.flatMap(schemaProblems), [], 'every object is valid against its schema')

  const deployment = find<IDeployment>(objects, 'Deployment', 'arbiter')
  const pod = must(deployment.spec?.template.spec, 'pod spec')
  const podLabels = must(deployment.spec?.template.metadata?.labels, 'pod labels')
  t.ok(pod.securityContext?.runAsNonRoot, 'the pod must run as non-root')
  t.not(pod.securityContext?.runAsUser, 0, 'and not as uid 0')
  t.equal(pod.automountServiceAccountToken, false, 'no API token in the pod')

  const containers = [...(pod.initContainers ?? []), ...pod.containers]
  for (const c of containers) {
    const sc = c.securityContext
    t.equal(sc?.readOnlyRootFilesystem, true, `${c.name}: read-only root filesystem`)
    t.equal(sc?.allowPrivilegeEscalation, false, `${c.name}: no privilege escalation`)
    t.same(sc?.capabilities?.drop, ['ALL'], `${c.name}: drops every capability`)
    const image = must(c.image, `${c.name}: image`)
    const tag = /@sha256:[0-9a-f]{64}$/.test(image) ? 'digest' : /:([^:/]+)$/.exec(image)?.[1]
    t.ok(tag !== undefined && tag !== 'latest', `${c.name}: image ${image} is pinned, not latest`)
  }

  const arbiter = must(pod.containers.find((c) => c.name === 'arbiter'), 'the arbiter container')
  const config = containerConfig(arbiter)
  const httpPort = must(arbiter.ports?.find((p) => p.name === 'http'), 'the http port')
  t.equal(httpPort.containerPort, config.port, 'the http port is the one Arbiter listens on')
  t.equal(config.host, '0.0.0.0')
  t.match(arbiter.readinessProbe?.httpGet, { path: '/ready', port: 'http' }, 'readiness asks /ready')
  t.match(arbiter.livenessProbe?.httpGet, { path: '/health', port: 'http' }, 'liveness asks /health')
  t.ok(arbiter.startupProbe?.httpGet !== undefined, 'a startup probe covers the migrations')
  t.ok(arbiter.resources?.requests?.memory !== undefined && arbiter.resources?.limits?.memory !== undefined, 'memory requested and limited')

  // Secrets come from Secret references, never from values in the manifests.
  for (const name of ['DATABASE_URL', 'ARBITER_ADMIN_TOKEN']) {
    t.ok(arbiter.env?.find((e) => e.name === name)?.valueFrom?.secretKeyRef, `${name} comes from a Secret`)
  }
  t.ok(config.databaseUrl !== undefined && config.adminToken !== undefined)
  t.equal(config.watchPolicies, true, 'policies reload in place')

  // Every path Arbiter writes, or reads a key or a policy from, is a volume.
  const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]))
  const mountAt = (dir: string): { readOnly: boolean, volume: NonNullable<typeof pod.volumes>[number] } => {
    const m = must(arbiter.volumeMounts?.find((vm) => vm.mountPath === dir), `a volume mounted at ${dir}`)
    t.equal(m.subPath, undefined, `${dir}: a whole-volume mount (a subPath mount misses updates)`)
    return { readOnly: m.readOnly === true, volume: must(volumes.get(m.name), `volume ${m.name}`) }
  }
  for (const dir of [config.dataDir, '/tmp']) {
    const { readOnly, volume } = mountAt(dir)
    t.ok(!readOnly && volume.emptyDir !== undefined, `${dir}: a writable emptyDir`)
  }
  for (const file of [must(config.hmacKeyFile, 'hmac key file'), must(config.checkpointKeyFile, 'checkpoint key file')]) {
    const { volume } = mountAt(path.dirname(file))
    t.equal(volume.emptyDir?.medium, 'Memory', `${file}: a memory-backed volume`)
    const init = must(pod.initContainers?.find((c) => c.volumeMounts?.some((vm) => vm.name === volume.name)), `an init container filling ${file}`)
    const source = must(init.volumeMounts?.map((vm) => volumes.get(vm.name)).find((v) => v?.secret !== undefined), `${init.name}: a Secret volume`)
    t.ok(source.secret?.items?.some((i) => i.path === path.basename(file)), `${file}: copied from the Secret`)
  }
  const policies = mountAt(config.policyPath)
  t.ok(policies.readOnly, 'policies are mounted read-only')
  const configMap = find<IConfigMap>(objects, 'ConfigMap', must(policies.volume.configMap?.name, 'the policy ConfigMap'))
  const sources = Object.entries(must(configMap.data, 'policy files')).map(([file, text]) => ({ file, text }))
  const compiled = compilePolicy(sources)
  t.same(compiled.ok ? [] : compiled.problems.map(formatProblem), [], 'the ConfigMap holds a policy that compiles')

  const service = find<IService>(objects, 'Service', 'arbiter')
  t.same(service.spec?.selector, { 'app.kubernetes.io/name': podLabels['app.kubernetes.io/name'] }, 'the Service selects the pods')
  for (const port of service.spec?.ports ?? []) {
    t.ok(arbiter.ports?.some((p) => p.name === port.targetPort), `Service port ${String(port.name)} targets a named container port`)
  }
  const pdb = find<IPodDisruptionBudget>(objects, 'PodDisruptionBudget', 'arbiter')
  t.match(podLabels, must(pdb.spec?.selector?.matchLabels, 'PDB selector'), 'the PodDisruptionBudget selects the pods')
  t.ok(Number(pdb.spec?.minAvailable) < must(deployment.spec?.replicas, 'replicas'), 'a drain can take a pod')
}

t.test('the base renders, valid and locked down', { skip }, async (t) => {
  const objects = render(BASE)
  t.same(objects.map((o) => o.kind).sort(), ['ConfigMap', 'Deployment', 'PodDisruptionBudget', 'Service'])
  checkRendering(t, objects)
  t.equal(find(objects, 'ConfigMap').metadata.name, 'arbiter-policies', 'no hash suffix: an update reaches the running pods')
})

t.test('the example overlay renders into its namespace, with its image and its policy added', { skip }, async (t) => {
  const objects = render(EXAMPLE)
  checkRendering(t, objects)
  for (const o of objects.filter((o) => o.kind !== 'Namespace')) t.equal(o.metadata.namespace, 'arbiter', `${o.kind} in the namespace`)
  const pod = must(find<IDeployment>(objects, 'Deployment').spec?.template.spec, 'pod spec')
  for (const c of [...(pod.initContainers ?? []), ...pod.containers]) t.match(c.image, /^registry\.example\.com\/platform\/arbiter:0\.1\.0$/)
  t.same(Object.keys(find<IConfigMap>(objects, 'ConfigMap').data ?? {}).sort(), ['deny-by-default.yaml', 'reports.yaml'])
})

t.test('the servicemonitor component opens the metrics listener and scrapes it', { skip }, async (t) => {
  const objects = renderWithComponents('overlays/example', ['components/servicemonitor'], 'arbiter')
  checkRendering(t, objects)
  const arbiter = must(find<IDeployment>(objects, 'Deployment').spec?.template.spec?.containers.find((c) => c.name === 'arbiter'), 'container')
  const config = containerConfig(arbiter)
  t.equal(config.metricsHost, '0.0.0.0')
  const metricsPort = must(arbiter.ports?.find((p) => p.name === 'metrics'), 'the metrics port')
  t.equal(metricsPort.containerPort, config.metricsPort, 'the metrics port is the one Arbiter listens on')
  const monitor = find<IServiceMonitor>(objects, 'ServiceMonitor', 'arbiter')
  t.equal(monitor.metadata?.namespace, 'arbiter')
  t.same(monitor.spec?.endpoints?.map((e) => [e.port, e.path]), [['metrics', '/metrics']])
  const service = find<IService>(objects, 'Service', 'arbiter')
  t.ok(service.spec?.ports?.some((p) => p.name === 'metrics'), 'the Service names the metrics port the monitor scrapes')
  t.match(service.metadata?.labels ?? {}, must(monitor.spec?.selector.matchLabels, 'monitor selector'), 'the monitor selects the Service')
})

t.test('the audit-archive component archives once a month, with the server\'s keys and database, onto a volume of its own', { skip }, async (t) => {
  // As the example overlay would list it, beside its images.
  const objects = renderWithComponents('overlays/example', ['components/audit-archive'], 'arbiter', [{ name: 'arbiter', newName: 'registry.example.com/platform/arbiter', newTag: '0.1.0' }])
  checkRendering(t, objects)
  const cron = find<ICronJob>(objects, 'CronJob', 'arbiter-audit-archive')
  t.equal(cron.metadata?.namespace, 'arbiter')
  t.equal(cron.spec?.concurrencyPolicy, 'Forbid', 'never two archives at once')
  t.equal(cron.spec?.timeZone, 'Etc/UTC', 'partitions are UTC months')
  t.match(cron.spec?.schedule, /^\d+ \d+ [2-9] \* \*$/, 'monthly, after the month has closed')
  const pod = must(cron.spec?.jobTemplate.spec?.template.spec, 'job pod spec')
  t.equal(pod.restartPolicy, 'Never')
  t.equal(pod.automountServiceAccountToken, false)
  t.ok(pod.securityContext?.runAsNonRoot)
  const server = must(find<IDeployment>(objects, 'Deployment').spec?.template.spec?.containers.find((c) => c.name === 'arbiter'), 'server container')
  const archive = must(pod.containers.find((c) => c.name === 'archive'), 'the archive container')
  for (const c of [...(pod.initContainers ?? []), ...pod.containers]) {
    t.equal(c.image, server.image, `${c.name}: the server's image`)
    t.equal(c.securityContext?.readOnlyRootFilesystem, true, `${c.name}: read-only root filesystem`)
    t.same(c.securityContext?.capabilities?.drop, ['ALL'], `${c.name}: drops every capability`)
  }
  const args = must(archive.command, 'command')
  t.same(args.slice(0, 4), ['node', 'dist/src/cli/main.js', 'audit', 'archive'])
  t.notOk(args.includes('--before'), 'the retention setting says what is old enough')
  const config = containerConfig(archive)
  t.ok(config.auditRetentionMonths !== undefined && config.auditRetentionMonths >= 1, 'AUDIT_RETENTION_MONTHS is set')
  t.ok(config.databaseUrl !== undefined, 'the database from the Secret')
  const serverConfig = containerConfig(server)
  t.same([config.hmacKeyFile, config.checkpointKeyFile], [serverConfig.hmacKeyFile, serverConfig.checkpointKeyFile], 'the keys the server signs with')
  const volumes = new Map((pod.volumes ?? []).map((v) => [v.name, v]))
  const out = args[args.indexOf('--out') + 1]
  const outMount = must(archive.volumeMounts?.find((m) => m.mountPath === out), `a volume at ${out}`)
  const claim = must(volumes.get(outMount.name)?.persistentVolumeClaim?.claimName, 'the archive volume is a claim')
  t.ok(find(objects, 'PersistentVolumeClaim', claim), `the claim ${claim} is rendered`)
  const keysMount = must(archive.volumeMounts?.find((m) => m.mountPath === path.dirname(must(config.hmacKeyFile, 'key file'))), 'the keys volume')
  t.equal(volumes.get(keysMount.name)?.emptyDir?.medium, 'Memory', 'keys in memory only')
  t.ok(pod.initContainers?.some((c) => c.volumeMounts?.some((m) => m.name === keysMount.name)), 'filled from the Secret by the init container')
  for (const dir of [config.dataDir, '/tmp']) t.ok(archive.volumeMounts?.some((m) => m.mountPath === dir), `${dir} is a volume`)
})
