//! Pods as targets: `triage snapshot pod/NAME`, `triage jvm heapdump pod/NAME`, copy-out,
//! port-forward HTTP (pprof, metrics) and the RBAC preflight, all through the API server.
//!
//! The work is done by `kube-reach`; this module turns flags into options, writes the bundle and
//! prints. Entry points for other verbs: [`is_kube_target`], [`snapshot_pod`],
//! [`heapdump_pod`], [`http_get_pod`], [`metrics_pod`], [`copy_from_pod`]; the `triage pod …`
//! subcommands ([`PodCommand`], [`run`]) expose them directly.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Args, Subcommand, ValueEnum};
use kube_reach::collect::{CollectCache, PodCollectOptions, PodData};
use kube_reach::exec::ExecTarget;
use kube_reach::rbac::Operation;
use kube_reach::target::{PodSummary, Target};
use kube_reach::{KubeOptions, futures_util, kube, procfs, tokio};

use crate::exit;
use crate::output::{human_bytes, table};

/// How collectors reach the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, Default)]
pub enum Via {
    /// Exec in the target container (needs `cat`, and `sh` for a one-exec read).
    #[default]
    Exec,
    /// An ephemeral container (`--image`) sharing the target's process namespace: for distroless
    /// images and JVM attach without a JDK in the image.
    Ephemeral,
}

/// Kubernetes flags, named as kubectl's.
#[derive(Args, Debug, Clone, Default)]
pub struct KubeArgs {
    /// Namespace (default: the context's, else `default`).
    #[arg(short = 'n', long, value_name = "NAMESPACE")]
    pub namespace: Option<String>,
    /// kubeconfig context.
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
    /// kubeconfig file (default: $KUBECONFIG, ~/.kube/config, then in-cluster).
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Container (default: the pod's default-container annotation, or its only container).
    #[arg(short = 'c', long, value_name = "NAME")]
    pub container: Option<String>,
    /// Every pod matching this label selector instead of a named target.
    #[arg(short = 'l', long, value_name = "SELECTOR")]
    pub selector: Option<String>,
    /// How to reach the container.
    #[arg(long, value_enum, default_value_t = Via::Exec)]
    pub via: Via,
    /// Image of the ephemeral container (with --via ephemeral).
    #[arg(long, value_name = "IMAGE")]
    pub image: Option<String>,
    /// Path of the triage binary inside the ephemeral image (for native JVM attach from there).
    #[arg(long, value_name = "PATH", default_value = "triage")]
    pub ephemeral_triage: String,
    /// Only log lines newer than this (5s, 10m, 2h).
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    pub since: Option<Duration>,
    /// Only the last N log lines of each container.
    #[arg(long, value_name = "N")]
    pub tail: Option<i64>,
    /// Byte cap of each container log (current and previous each).
    #[arg(long, value_name = "BYTES", default_value_t = 5_000_000)]
    pub log_bytes: i64,
    /// Pods collected at once when a target matches many (a slow pod holds one slot, never the
    /// others).
    #[arg(
        long,
        value_name = "N",
        default_value_t = 8,
        visible_alias = "concurrency"
    )]
    pub parallel: usize,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    super::snapshot::parse_duration(s)
}

impl KubeArgs {
    fn options(&self) -> KubeOptions {
        KubeOptions {
            kubeconfig: self.kubeconfig.clone(),
            context: self.context.clone(),
            namespace: self.namespace.clone(),
        }
    }

    fn target(&self, target: Option<&str>) -> anyhow::Result<Target> {
        match (target, &self.selector) {
            (Some(t), None) => Ok(Target::parse(t)?),
            (None, Some(s)) => Ok(Target::Selector(s.clone())),
            (Some(t), Some(_)) => bail!("give either a target ({t}) or -l SELECTOR, not both"),
            (None, None) => bail!(
                "name a target (pod/NAME, deploy/NAME, sts/NAME, ds/NAME) or pass -l SELECTOR"
            ),
        }
    }
}

/// True when `s` names a Kubernetes target (`pod/NAME`, `deploy/NAME`, `sts/NAME`, `ds/NAME`).
pub fn is_kube_target(s: &str) -> bool {
    Target::looks_like(s)
}

#[derive(Subcommand, Debug)]
pub enum PodCommand {
    /// Resolve a target to pods and print node, containers, IDs, images and digests, restarts,
    /// last termination and waiting reasons, owner.
    Resolve(ResolveArgs),
    /// Snapshot pods: objects, events, node, Services, PDBs, logs, and the container's /proc and
    /// cgroups read by exec; rules run on it; a bundle is written.
    Snapshot(PodSnapshotArgs),
    /// Copy one file out of a container (streamed with cat, size and sha256 verified in the pod).
    Cp(CpArgs),
    /// HTTP GET on a pod's port through port-forward (one connection per request).
    Http(HttpArgs),
    /// Check the permissions an operation needs and name the missing ones.
    Preflight(PreflightArgs),
    /// Heap dump of a JVM in a pod (jcmd in the container, or triage from an ephemeral container).
    Heapdump(HeapdumpArgs),
}

#[derive(Args, Debug)]
pub struct ResolveArgs {
    /// pod/NAME, deploy/NAME, sts/NAME, ds/NAME (or -l SELECTOR).
    pub target: Option<String>,
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct PodSnapshotArgs {
    /// pod/NAME, deploy/NAME, sts/NAME, ds/NAME (or -l SELECTOR).
    pub target: Option<String>,
    #[command(flatten)]
    pub kube: KubeArgs,
    /// Where to write the bundle (default: triage-<target>-<UTC time>.tar.zst here).
    #[arg(long, value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Print a JSON summary on stdout instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Give up on one pod after this long (its API reads and its container collectors each); what
    /// was collected is kept and the other pods go on.
    #[arg(long, value_name = "DUR", value_parser = parse_duration, default_value = "60s")]
    pub timeout: Duration,
    #[command(flatten)]
    pub redact: super::redaction::RedactFlags,
}

#[derive(Args, Debug)]
pub struct CpArgs {
    /// pod/NAME:/path/in/container (or deploy/NAME:/path: the first pod).
    pub source: String,
    /// Local destination file (must not exist).
    pub dest: PathBuf,
    #[command(flatten)]
    pub kube: KubeArgs,
}

#[derive(Args, Debug)]
pub struct HttpArgs {
    pub target: String,
    /// Port in the pod (default for metrics: the prometheus.io/port annotation or a port named `metrics`).
    #[arg(long)]
    pub port: Option<u16>,
    /// Path and query (default /metrics).
    #[arg(default_value = "/metrics")]
    pub path: String,
    /// Write the body here instead of stdout.
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub kube: KubeArgs,
}

#[derive(Args, Debug)]
pub struct PreflightArgs {
    pub target: Option<String>,
    /// Which operation to check.
    #[arg(long = "for", value_enum, default_value_t = PreflightFor::Snapshot)]
    pub operation: PreflightFor,
    #[command(flatten)]
    pub kube: KubeArgs,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PreflightFor {
    Inspect,
    Snapshot,
    Ephemeral,
    Copy,
    PortForward,
}

#[derive(Args, Debug)]
pub struct HeapdumpArgs {
    pub target: String,
    /// Output file (default heap-<pod>-<UTC time>.hprof).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// The JVM's pid inside the container (default: the first JVM `jcmd -l` lists, else 1).
    #[arg(long)]
    pub pid: Option<u32>,
    #[command(flatten)]
    pub kube: KubeArgs,
}

/// Run `triage pod …`.
pub fn run(command: PodCommand) -> anyhow::Result<u8> {
    match command {
        PodCommand::Resolve(a) => resolve_cmd(a),
        PodCommand::Snapshot(a) => snapshot_pod(
            a.target.as_deref(),
            &a.kube,
            a.out.as_deref(),
            a.json,
            a.timeout,
            &a.redact,
        ),
        PodCommand::Cp(a) => copy_from_pod(&a.source, &a.dest, &a.kube),
        PodCommand::Http(a) => {
            let body = http_get_pod(&a.target, a.port, &a.path, &a.kube)?;
            match a.out {
                Some(p) => {
                    std::fs::write(&p, &body).with_context(|| format!("writing {}", p.display()))?
                }
                None => std::io::stdout()
                    .lock()
                    .write_all(&body)
                    .context("writing to stdout")?,
            }
            Ok(exit::OK)
        }
        PodCommand::Preflight(a) => preflight_cmd(a),
        PodCommand::Heapdump(a) => {
            let path = heapdump_pod(&a.target, a.pid, a.out.as_deref(), &a.kube)?;
            eprintln!("heap dump: {}", path.display());
            Ok(exit::OK)
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn connect_and_resolve(
    kube: &KubeArgs,
    target: &Target,
) -> anyhow::Result<(kube::Client, String, Vec<PodSummary>)> {
    let (client, ns) = kube_reach::connect(&kube.options()).await?;
    let pods = kube_reach::resolve(&client, &ns, target).await?;
    Ok((client, ns, pods))
}

async fn require(client: &kube::Client, ns: &str, op: Operation) -> anyhow::Result<Vec<String>> {
    let pre = kube_reach::rbac::preflight(client, ns, op).await?;
    pre.require(op, ns)?;
    Ok(pre.warnings())
}

// ---------------------------------------------------------------------------------------------
// resolve
// ---------------------------------------------------------------------------------------------

fn resolve_cmd(args: ResolveArgs) -> anyhow::Result<u8> {
    let target = args.kube.target(args.target.as_deref())?;
    let (_, _, pods) = runtime()?.block_on(connect_and_resolve(&args.kube, &target))?;
    let mut out = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut out, &pods).context("writing JSON")?;
        writeln!(out).context("writing to stdout")?;
    } else {
        out.write_all(render_pods(&pods).as_bytes())
            .context("writing to stdout")?;
    }
    Ok(exit::OK)
}

/// The resolution as a table: one row per container.
pub fn render_pods(pods: &[PodSummary]) -> String {
    let mut rows = Vec::new();
    for p in pods {
        for c in &p.containers {
            let state = match (&c.waiting_reason, &c.terminated_reason) {
                (Some(w), _) => format!("{} ({w})", c.state),
                (_, Some(t)) => format!("{} ({t})", c.state),
                _ => c.state.clone(),
            };
            let last = match (&c.last_termination_reason, c.last_exit_code) {
                (Some(r), Some(code)) => format!("{r} ({code})"),
                _ => "-".into(),
            };
            rows.push(vec![
                format!("{}/{}", p.namespace, p.name),
                p.node.clone().unwrap_or_else(|| "-".into()),
                format!(
                    "{}{}",
                    c.name,
                    if c.ephemeral { " (ephemeral)" } else { "" }
                ),
                state,
                c.restart_count.to_string(),
                last,
                c.image.clone(),
                c.image_digest
                    .as_deref()
                    .map(|d| d.chars().take(19).collect())
                    .unwrap_or_else(|| "-".into()),
                c.container_id
                    .as_deref()
                    .map(|i| i.chars().take(25).collect())
                    .unwrap_or_else(|| "-".into()),
                p.owners.last().cloned().unwrap_or_else(|| "-".into()),
            ]);
        }
    }
    table(
        &[
            "POD",
            "NODE",
            "CONTAINER",
            "STATE",
            "RESTARTS",
            "LAST TERMINATION",
            "IMAGE",
            "DIGEST",
            "CONTAINER ID",
            "OWNER",
        ],
        &rows,
    )
}

// ---------------------------------------------------------------------------------------------
// snapshot
// ---------------------------------------------------------------------------------------------

/// One pod's snapshot.
struct PodSnapshot {
    summary: PodSummary,
    data: PodData,
    container: Option<String>,
    exec: Result<procfs::ContainerSnapshot, String>,
    duration: Duration,
    /// The pod hit --timeout: what came in before is kept.
    timed_out: bool,
}

async fn snapshot_one(
    client: kube::Client,
    ns: String,
    summary: PodSummary,
    kube: KubeArgs,
    cache: &CollectCache,
    timeout: Duration,
    progress: &FanProgress,
) -> PodSnapshot {
    let started = Instant::now();
    let who = format!("{}/{}", summary.namespace, summary.name);
    let bar = progress.start(&who);
    let options = PodCollectOptions {
        since_seconds: kube.since.map(|d| d.as_secs().max(1) as i64),
        tail_lines: kube.tail,
        log_limit_bytes: kube.log_bytes,
    };
    let data_fut = tokio::time::timeout(
        timeout,
        kube_reach::collect::collect_pod_cached(&client, &summary, &options, cache),
    );
    let exec_fut = tokio::time::timeout(timeout, async {
        let container = summary
            .running_container(kube.container.as_deref())
            .map_err(|e| e.to_string())?
            .name
            .clone();
        let target = match kube.via {
            Via::Exec => ExecTarget::new(client.clone(), &ns, &summary.name, &container),
            Via::Ephemeral => {
                let image = kube.image.clone().ok_or(
                    "--via ephemeral needs --image IMAGE (an image with sh and cat, or triage's)",
                )?;
                let spec = kube_reach::ephemeral::EphemeralSpec {
                    image,
                    command: Vec::new(),
                    target_container: container.clone(),
                    timeout: Duration::from_secs(60),
                };
                kube_reach::ephemeral::start(&client, &ns, &summary, &spec)
                    .await
                    .map_err(|e| e.to_string())?
            }
        };
        let snap = procfs::snapshot_container(&target, &procfs::FetchLimits::default())
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>((container, snap))
    });
    let (data, exec) = tokio::join!(data_fut, exec_fut);
    let mut timed_out = false;
    let data = data.unwrap_or_else(|_| {
        timed_out = true;
        // The resolved object is all there is: the pod's own record still goes into the bundle.
        PodData {
            pod: serde_json::to_value(&*summary.object).unwrap_or_default(),
            owners: Vec::new(),
            siblings: Vec::new(),
            events: Vec::new(),
            node: None,
            services: Vec::new(),
            endpoint_slices: Vec::new(),
            pdbs: Vec::new(),
            logs: Vec::new(),
            warnings: vec![format!(
                "the API reads for this pod (events, node, logs, services) did not finish within \
                 --timeout {}; only the pod object is kept",
                super::metrics::humanize(timeout)
            )],
        }
    });
    let exec = exec.unwrap_or_else(|_| {
        timed_out = true;
        Err(format!(
            "did not finish within --timeout {}: the container's exec hangs (a stuck `sh`/`cat`, \
             a frozen process or an overloaded kubelet); raise --timeout or check the container",
            super::metrics::humanize(timeout)
        ))
    });
    let (container, exec) = match exec {
        Ok((c, s)) => (Some(c), Ok(s)),
        Err(e) => (None, Err(e)),
    };
    let duration = started.elapsed();
    let line = match (&exec, timed_out) {
        (_, true) => format!(
            "{who}: timed out after {:.1}s (partial)",
            duration.as_secs_f64()
        ),
        (Ok(snap), false) => format!(
            "{who}: done in {:.1}s ({} files from the container)",
            duration.as_secs_f64(),
            snap.files_read
        ),
        (Err(e), false) => format!(
            "{who}: partial in {:.1}s: container collectors not run: {}",
            duration.as_secs_f64(),
            e.lines().next().unwrap_or_default()
        ),
    };
    progress.finish(bar, line);
    PodSnapshot {
        summary,
        data,
        container,
        exec,
        duration,
        timed_out,
    }
}

/// One progress line per pod on stderr: a spinner per pod on a terminal, otherwise a line as each
/// pod finishes; nothing when quiet.
struct FanProgress {
    bars: Option<indicatif::MultiProgress>,
    quiet: bool,
}

impl FanProgress {
    fn new(quiet: bool) -> FanProgress {
        use std::io::IsTerminal;
        let bars = (!quiet && std::io::stderr().is_terminal()).then(indicatif::MultiProgress::new);
        FanProgress { bars, quiet }
    }

    fn start(&self, who: &str) -> Option<indicatif::ProgressBar> {
        let bars = self.bars.as_ref()?;
        let bar = bars.add(indicatif::ProgressBar::new_spinner());
        bar.set_style(
            indicatif::ProgressStyle::with_template("{spinner} {msg} {elapsed}")
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
        );
        bar.set_message(format!("{who}: collecting"));
        bar.enable_steady_tick(Duration::from_millis(120));
        Some(bar)
    }

    fn finish(&self, bar: Option<indicatif::ProgressBar>, line: String) {
        match bar {
            Some(bar) => {
                bar.set_style(
                    indicatif::ProgressStyle::with_template("{msg}")
                        .unwrap_or_else(|_| indicatif::ProgressStyle::default_spinner()),
                );
                bar.finish_with_message(line);
            }
            None if self.quiet => {}
            None => eprintln!("triage: {line}"),
        }
    }
}

/// `triage snapshot pod/NAME …`: resolve, collect every pod (bounded concurrency), run the pod,
/// log and container rules, write one bundle, print a summary. Returns the exit code.
pub fn snapshot_pod(
    target: Option<&str>,
    kube: &KubeArgs,
    out: Option<&Path>,
    json: bool,
    pod_timeout: Duration,
    redact: &super::redaction::RedactFlags,
) -> anyhow::Result<u8> {
    let started_at = jiff::Timestamp::now();
    let target = kube.target(target)?;
    let op = match kube.via {
        Via::Exec => Operation::SnapshotExec,
        Via::Ephemeral => Operation::SnapshotEphemeral,
    };
    let rt = runtime()?;
    let (snapshots, warnings) = rt.block_on(async {
        let (client, ns) = kube_reach::connect(&kube.options()).await?;
        let warnings = require(&client, &ns, op).await?;
        let pods = kube_reach::resolve(&client, &ns, &target).await?;
        use futures_util::StreamExt;
        let cache = CollectCache::default();
        // `-q` leaves only errors on stderr: no progress either.
        let quiet = !tracing::enabled!(tracing::Level::WARN);
        let progress = FanProgress::new(quiet);
        if pods.len() > 1 && !quiet {
            eprintln!(
                "triage: {} pods, {} at a time, each within --timeout {}",
                pods.len(),
                kube.parallel.max(1),
                super::metrics::humanize(pod_timeout)
            );
        }
        // Unordered: a slow pod holds one slot while the others keep flowing.
        let mut snapshots: Vec<(usize, PodSnapshot)> =
            futures_util::stream::iter(pods.into_iter().enumerate())
                .map(|(i, p)| {
                    let fut = snapshot_one(
                        client.clone(),
                        ns.clone(),
                        p,
                        kube.clone(),
                        &cache,
                        pod_timeout,
                        &progress,
                    );
                    async move { (i, fut.await) }
                })
                .buffer_unordered(kube.parallel.max(1))
                .collect()
                .await;
        snapshots.sort_by_key(|(i, _)| *i);
        let snapshots: Vec<PodSnapshot> = snapshots.into_iter().map(|(_, s)| s).collect();
        Ok::<_, anyhow::Error>((snapshots, warnings))
    })?;
    for w in &warnings {
        tracing::warn!("{w}");
    }
    let analysis = analyse(&snapshots);
    let replicas = super::replicas::compare(snapshots.iter().map(replica_facts).collect());
    let path = out
        .map(Path::to_path_buf)
        .unwrap_or_else(|| default_bundle_name(&target, started_at));
    let written = write_pod_bundle(
        &snapshots, &analysis, &replicas, &target, &path, started_at, &warnings, redact,
    )
    .with_context(|| format!("writing the bundle {}", path.display()))?;
    let incomplete = snapshots
        .iter()
        .filter(|s| s.exec.is_err() || s.timed_out)
        .count();
    if snapshots.len() > 1 && tracing::enabled!(tracing::Level::WARN) {
        eprintln!(
            "triage: {} pods: {} complete, {} partial (of which {} timed out)",
            snapshots.len(),
            snapshots.len() - incomplete,
            incomplete,
            snapshots.iter().filter(|s| s.timed_out).count()
        );
    }
    let mut stdout = std::io::stdout().lock();
    if json {
        let summary = serde_json::json!({
            "pods": snapshots.iter().map(|s| &s.summary).collect::<Vec<_>>(),
            "replicas": replicas,
            "findings": analysis.findings,
            "bundle": written.display().to_string(),
        });
        serde_json::to_writer_pretty(&mut stdout, &summary).context("writing JSON")?;
        writeln!(stdout).context("writing to stdout")?;
    } else {
        let pods: Vec<PodSummary> = snapshots.iter().map(|s| s.summary.clone()).collect();
        let mut text = render_pods(&pods);
        for s in &snapshots {
            match &s.exec {
                Ok(snap) => text.push_str(&format!(
                    "\n{}/{}: {} files read from container {} ({}), {} processes\n",
                    s.summary.namespace,
                    s.summary.name,
                    snap.files_read,
                    s.container.as_deref().unwrap_or("-"),
                    snap.fetched_method,
                    snap.collection.snapshot.processes.len()
                )),
                Err(e) => text.push_str(&format!(
                    "\n{}/{}: container collectors not run: {e}\n",
                    s.summary.namespace, s.summary.name
                )),
            }
            for w in &s.data.warnings {
                text.push_str(&format!("  warning: {w}\n"));
            }
        }
        text.push_str(&super::replicas::render(&replicas));
        text.push_str(&render_findings(&analysis.findings));
        stdout
            .write_all(text.as_bytes())
            .context("writing to stdout")?;
    }
    stdout.flush().context("writing to stdout")?;
    eprintln!("bundle: {}", written.display());
    Ok(exit::OK)
}

fn render_findings(findings: &[analyze::Finding]) -> String {
    if findings.is_empty() {
        return "\nno findings\n".into();
    }
    let rows: Vec<Vec<String>> = findings
        .iter()
        .map(|f| {
            vec![
                format!("{:?}", f.severity).to_lowercase(),
                f.id.clone(),
                f.title.clone(),
            ]
        })
        .collect();
    format!(
        "\n== findings ==\n{}",
        table(&["SEVERITY", "RULE", "FINDING"], &rows)
    )
}

/// `triage-pod-web-20240102T030405Z.tar.zst`.
pub fn default_bundle_name(target: &Target, at: jiff::Timestamp) -> PathBuf {
    let name = match target {
        Target::Pod(n) => format!("pod-{n}"),
        Target::Deployment(n) => format!("deploy-{n}"),
        Target::StatefulSet(n) => format!("sts-{n}"),
        Target::DaemonSet(n) => format!("ds-{n}"),
        Target::Selector(_) => "selector".to_string(),
    };
    PathBuf::from(sink::artifact_name("triage", &name, at, "tar.zst"))
}

/// Every pod object seen (targets and their siblings), deduplicated by namespace/name.
fn pod_list(snapshots: &[PodSnapshot]) -> serde_json::Value {
    let mut seen = std::collections::BTreeMap::new();
    for s in snapshots {
        for p in std::iter::once(&s.data.pod).chain(s.data.siblings.iter().map(|p| &**p)) {
            let key = format!(
                "{}/{}",
                p["metadata"]["namespace"].as_str().unwrap_or(""),
                p["metadata"]["name"].as_str().unwrap_or("")
            );
            seen.entry(key).or_insert_with(|| p.clone());
        }
    }
    serde_json::json!({"kind": "PodList", "apiVersion": "v1", "items": seen.into_values().collect::<Vec<_>>()})
}

fn unique_objects<'a>(
    values: impl Iterator<Item = &'a serde_json::Value>,
    kind: &str,
) -> serde_json::Value {
    let mut seen = std::collections::BTreeMap::new();
    for v in values {
        let key = format!(
            "{}/{}",
            v["metadata"]["namespace"].as_str().unwrap_or(""),
            v["metadata"]["name"].as_str().unwrap_or("")
        );
        seen.entry(key).or_insert_with(|| v.clone());
    }
    serde_json::json!({"kind": format!("{kind}List"), "apiVersion": "v1", "items": seen.into_values().collect::<Vec<_>>()})
}

const PODS_MEMBER: &str = "kubernetes/pods.json";
const SERVICES_MEMBER: &str = "kubernetes/services.json";
const PDBS_MEMBER: &str = "kubernetes/pdbs.json";

fn log_member(s: &PodSnapshot, container: &str, previous: bool) -> String {
    format!(
        "logs/{}/{}/{}{}.log",
        s.summary.namespace,
        s.summary.name,
        container,
        if previous { ".previous" } else { "" }
    )
}

/// Run the pod, log and container rules over what was collected.
fn analyse(snapshots: &[PodSnapshot]) -> analyze::Analysis {
    let pods_json = serde_json::to_vec(&pod_list(snapshots)).unwrap_or_default();
    let services_json = serde_json::to_vec(&unique_objects(
        snapshots.iter().flat_map(|s| s.data.services.iter()),
        "Service",
    ))
    .unwrap_or_default();
    let pdbs_json = serde_json::to_vec(&unique_objects(
        snapshots.iter().flat_map(|s| s.data.pdbs.iter()),
        "PodDisruptionBudget",
    ))
    .unwrap_or_default();
    let inventory = analyze::PodInventory {
        pods: analyze::pod::parse_objects(PODS_MEMBER, &pods_json).unwrap_or_default(),
        services: analyze::pod::parse_objects(SERVICES_MEMBER, &services_json).unwrap_or_default(),
        pod_disruption_budgets: analyze::pod::parse_objects(PDBS_MEMBER, &pdbs_json)
            .unwrap_or_default(),
        pods_source: PODS_MEMBER.into(),
        services_source: SERVICES_MEMBER.into(),
        pdbs_source: PDBS_MEMBER.into(),
    };
    let logs: Vec<analyze::LogText> = snapshots
        .iter()
        .flat_map(|s| {
            s.data.logs.iter().map(move |l| analyze::LogText {
                subject: format!(
                    "pod {}/{} container {}{}",
                    s.summary.namespace,
                    s.summary.name,
                    l.container,
                    if l.previous { " (previous)" } else { "" }
                ),
                source: log_member(s, &l.container, l.previous),
                text: String::from_utf8_lossy(&l.data).into_owned(),
            })
        })
        .collect();
    let mut analysis = analyze::analyze(&analyze::AnalysisInput {
        snapshot: None,
        pods: Some(&inventory),
        logs: &logs,
    });
    // Container rules (memory, cgroups, conntrack …) on each container's snapshot.
    for s in snapshots {
        if let Ok(snap) = &s.exec {
            let mut per = analyze::analyze_snapshot(&snap.collection.snapshot);
            for f in &mut per.findings {
                f.subject = format!(
                    "pod {}/{} container {}: {}",
                    s.summary.namespace,
                    s.summary.name,
                    s.container.as_deref().unwrap_or("-"),
                    f.subject
                );
            }
            analysis.findings.extend(per.findings);
        }
    }
    analyze::sort_findings(&mut analysis.findings);
    analysis
}

fn record(
    writer: &mut bundle::BundleWriter,
    name: String,
    result: Result<(), String>,
    duration: Duration,
) {
    writer.record_collector(bundle::CollectorRecord {
        name,
        status: if result.is_ok() {
            bundle::CollectorStatus::Ok
        } else {
            bundle::CollectorStatus::Failed
        },
        error: result.err(),
        duration_ms: duration.as_millis() as u64,
    });
}

/// What the replica comparison needs of one pod.
fn replica_facts(s: &PodSnapshot) -> super::replicas::ReplicaFacts {
    let cgroup = s.exec.as_ref().ok().and_then(|snap| {
        snap.collection
            .snapshot
            .cgroups
            .iter()
            .find(|c| c.memory.is_some() || c.cpu.is_some())
    });
    let memory = cgroup.and_then(|c| c.memory.as_ref());
    let throttled_ratio = cgroup.and_then(|c| c.cpu.as_ref()).and_then(|cpu| {
        match (cpu.nr_throttled, cpu.nr_periods) {
            (Some(t), Some(p)) if p > 0 => Some(t as f64 / p as f64),
            _ => None,
        }
    });
    let containers = s.summary.containers.iter().filter(|c| !c.ephemeral);
    let (status, problem) = match (&s.exec, s.timed_out) {
        (Err(e), true) => ("timed out".to_string(), Some(e.clone())),
        (Ok(_), true) => ("timed out".to_string(), s.data.warnings.first().cloned()),
        (Err(e), false) => (
            "partial".to_string(),
            Some(format!("container collectors not run: {e}")),
        ),
        (Ok(_), false) => ("complete".to_string(), None),
    };
    super::replicas::ReplicaFacts {
        pod: format!("{}/{}", s.summary.namespace, s.summary.name),
        owner: s.summary.owners.last().cloned(),
        status,
        problem,
        restarts: containers.clone().map(|c| i64::from(c.restart_count)).sum(),
        last_terminations: containers
            .clone()
            .filter_map(|c| c.last_termination_reason.clone())
            .collect(),
        working_set_bytes: memory.map(|m| m.working_set_bytes),
        memory_limit_bytes: memory.and_then(|m| m.limit_bytes),
        throttled_ratio,
        digests: containers
            .filter_map(|c| Some((c.name.clone(), c.image_digest.clone()?)))
            .collect(),
    }
}

#[allow(clippy::too_many_arguments)]
fn write_pod_bundle(
    snapshots: &[PodSnapshot],
    analysis: &analyze::Analysis,
    replicas: &[super::replicas::ReplicaGroup],
    target: &Target,
    path: &Path,
    started_at: jiff::Timestamp,
    warnings: &[String],
    redact: &super::redaction::RedactFlags,
) -> anyhow::Result<PathBuf> {
    let mut writer = bundle::BundleWriter::create(path, &target.display(), started_at)?;
    // Every text and JSON member (logs and pod specs are where secrets leak), with the same rules
    // and flags as a host snapshot.
    redact.apply(&mut writer)?;
    for w in warnings {
        writer.note(w.clone());
    }
    let pods: Vec<&PodSummary> = snapshots.iter().map(|s| &s.summary).collect();
    writer.add_json("kubernetes/resolution.json", &pods)?;
    writer.add_json(PODS_MEMBER, &pod_list(snapshots))?;
    writer.add_json("kubernetes/replicas.json", &replicas)?;
    writer.add_json(
        SERVICES_MEMBER,
        &unique_objects(
            snapshots.iter().flat_map(|s| s.data.services.iter()),
            "Service",
        ),
    )?;
    writer.add_json(
        PDBS_MEMBER,
        &unique_objects(
            snapshots.iter().flat_map(|s| s.data.pdbs.iter()),
            "PodDisruptionBudget",
        ),
    )?;
    for s in snapshots {
        let base = format!("kubernetes/{}/{}", s.summary.namespace, s.summary.name);
        writer.add_json(&format!("{base}/pod.json"), &s.data.pod)?;
        writer.add_json(&format!("{base}/owners.json"), &s.data.owners)?;
        writer.add_json(&format!("{base}/events.json"), &s.data.events)?;
        writer.add_json(&format!("{base}/node.json"), &s.data.node)?;
        writer.add_json(
            &format!("{base}/endpointslices.json"),
            &s.data.endpoint_slices,
        )?;
        let k8s_result = if s.data.warnings.is_empty() {
            Ok(())
        } else {
            Err(s.data.warnings.join("; "))
        };
        record(
            &mut writer,
            format!("kubernetes {}/{}", s.summary.namespace, s.summary.name),
            k8s_result,
            s.duration,
        );
        for l in &s.data.logs {
            let member = log_member(s, &l.container, l.previous);
            let cut = l.truncated.then_some("cut at the --log-bytes cap");
            writer.add_member(
                &member,
                &l.data,
                bundle::writer::MemberOptions {
                    kind: bundle::FileKind::Text,
                    sensitive: false,
                    truncated: cut,
                },
            )?;
        }
        match &s.exec {
            Ok(snap) => {
                let c = s.container.as_deref().unwrap_or("container");
                let cbase = format!("pods/{}/{}/{c}", s.summary.namespace, s.summary.name);
                writer.add_json(&format!("{cbase}/snapshot.json"), &snap.collection.snapshot)?;
                writer.add_json(
                    &format!("{cbase}/reach.json"),
                    &serde_json::json!({"method": snap.fetched_method, "files_read": snap.files_read,
                                        "unreadable": snap.unreadable, "warnings": snap.warnings,
                                        "note": "filesystems are measured with statvfs, which cannot run over exec: that section is empty"}),
                )?;
                for (_, raw) in &snap.collection.raw_files {
                    let clean: String = raw
                        .path
                        .split('/')
                        .filter(|c| !c.is_empty() && *c != "." && *c != "..")
                        .collect::<Vec<_>>()
                        .join("/");
                    if clean.is_empty() {
                        continue;
                    }
                    let _ = writer.add_member(
                        &format!("{cbase}/raw/{clean}"),
                        &raw.data,
                        bundle::writer::MemberOptions {
                            kind: bundle::FileKind::Text,
                            sensitive: false,
                            truncated: raw.truncated.as_deref(),
                        },
                    );
                }
                record(
                    &mut writer,
                    format!("exec {}/{} {c}", s.summary.namespace, s.summary.name),
                    Ok(()),
                    s.duration,
                );
            }
            Err(e) => record(
                &mut writer,
                format!("exec {}/{}", s.summary.namespace, s.summary.name),
                Err(e.clone()),
                s.duration,
            ),
        }
    }
    writer.add_json("findings.json", analysis)?;
    Ok(writer.finish()?)
}

// ---------------------------------------------------------------------------------------------
// copy, http, preflight, heap dump
// ---------------------------------------------------------------------------------------------

/// Split `pod/NAME:/path`.
fn split_remote(source: &str) -> anyhow::Result<(String, String)> {
    let (t, p) = source
        .split_once(":/")
        .ok_or_else(|| anyhow::anyhow!("`{source}`: expected pod/NAME:/absolute/path"))?;
    Ok((t.to_string(), format!("/{p}")))
}

async fn exec_target(
    kube: &KubeArgs,
    target: &str,
    op: Operation,
) -> anyhow::Result<(kube::Client, String, PodSummary, ExecTarget)> {
    let target = Target::parse(target)?;
    let (client, ns) = kube_reach::connect(&kube.options()).await?;
    require(&client, &ns, op).await?;
    let pods = kube_reach::resolve(&client, &ns, &target).await?;
    let pod = pods
        .into_iter()
        .next()
        .ok_or_else(|| anyhow::anyhow!("no pod"))?;
    let container = pod
        .running_container(kube.container.as_deref())?
        .name
        .clone();
    let exec = ExecTarget::new(client.clone(), &ns, &pod.name, &container);
    Ok((client, ns, pod, exec))
}

/// Copy `pod/NAME:/path` to `dest`, verified; prints the result. Returns the exit code.
pub fn copy_from_pod(source: &str, dest: &Path, kube: &KubeArgs) -> anyhow::Result<u8> {
    let (target, remote) = split_remote(source)?;
    let copied = runtime()?.block_on(async {
        let (_, _, _, exec) = exec_target(kube, &target, Operation::Copy).await?;
        Ok::<_, anyhow::Error>(kube_reach::copy::copy_file_out(&exec, &remote, dest).await?)
    })?;
    match &copied.verification {
        kube_reach::copy::Verification::Verified => eprintln!(
            "copied {} ({}) to {}, sha256 {} verified in the pod",
            remote,
            human_bytes(copied.size_bytes),
            dest.display(),
            copied.sha256
        ),
        kube_reach::copy::Verification::Unverified(why) => eprintln!(
            "copied {} ({}) to {}, sha256 {} — UNVERIFIED: {why}",
            remote,
            human_bytes(copied.size_bytes),
            dest.display(),
            copied.sha256
        ),
    }
    Ok(exit::OK)
}

/// GET `path` on the pod's `port` (default: its metrics port) through port-forward; the body.
pub fn http_get_pod(
    target: &str,
    port: Option<u16>,
    path: &str,
    kube: &KubeArgs,
) -> anyhow::Result<Vec<u8>> {
    let (_, mut bodies) = http_get_pod_many(
        target,
        port,
        &[(path.to_string(), Duration::from_secs(120))],
        512 << 20,
        kube,
    )?;
    bodies.remove(0).map(|(body, _)| body)
}

/// The body of one answer and how long it took, or why there is none.
pub type PodAnswer = anyhow::Result<(Vec<u8>, Duration)>;

/// One GET per `(path, timeout)` on the pod's `port` (default: its metrics port), all at once,
/// each over its own port-forward connection. Returns `pod/NAME:PORT` and, per request, the body
/// and how long it took, or why it failed; the pod is resolved (and permissions checked) once.
pub fn http_get_pod_many(
    target: &str,
    port: Option<u16>,
    requests: &[(String, Duration)],
    max_body_bytes: usize,
    kube: &KubeArgs,
) -> anyhow::Result<(String, Vec<PodAnswer>)> {
    let target = Target::parse(target)?;
    runtime()?.block_on(async {
        let (client, ns) = kube_reach::connect(&kube.options()).await?;
        require(&client, &ns, Operation::PortForward).await?;
        let pods = kube_reach::resolve(&client, &ns, &target).await?;
        let pod = pods.into_iter().next().ok_or_else(|| anyhow::anyhow!("no pod"))?;
        let port = match port.or_else(|| kube_reach::portforward::metrics_port(&pod.object)) {
            Some(p) => p,
            None => bail!(
                "pod/{} has no prometheus.io/port annotation and no port named `metrics`: pass --port",
                pod.name
            ),
        };
        let api: kube::Api<kube_reach::k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client, &ns);
        let name = pod.name.clone();
        let answers = futures_util::future::join_all(requests.iter().map(|(path, timeout)| {
            let (api, name) = (&api, &name);
            async move {
                let started = std::time::Instant::now();
                let resp = kube_reach::portforward::http_get(
                    api,
                    name,
                    port,
                    path,
                    max_body_bytes,
                    *timeout,
                )
                .await?;
                if resp.status != 200 {
                    bail!(
                        "GET {path} on pod/{name}:{port} answered HTTP {}: {}",
                        resp.status,
                        String::from_utf8_lossy(&resp.body[..resp.body.len().min(300)]).trim()
                    );
                }
                if resp.truncated {
                    bail!(
                        "GET {path} on pod/{name}:{port}: the answer is larger than {} MiB",
                        max_body_bytes >> 20
                    );
                }
                Ok((resp.body, started.elapsed()))
            }
        }))
        .await;
        Ok((format!("pod/{name}:{port}"), answers))
    })
}

/// The metrics of a pod (port and path from its annotations or its `metrics` port).
pub fn metrics_pod(target: &str, port: Option<u16>, kube: &KubeArgs) -> anyhow::Result<Vec<u8>> {
    let path = "/metrics";
    http_get_pod(target, port, path, kube)
}

fn preflight_cmd(args: PreflightArgs) -> anyhow::Result<u8> {
    let op = match args.operation {
        PreflightFor::Inspect => Operation::Inspect,
        PreflightFor::Snapshot => Operation::SnapshotExec,
        PreflightFor::Ephemeral => Operation::SnapshotEphemeral,
        PreflightFor::Copy => Operation::Copy,
        PreflightFor::PortForward => Operation::PortForward,
    };
    let (pre, ns) = runtime()?.block_on(async {
        let (client, ns) = kube_reach::connect(&args.kube.options()).await?;
        Ok::<_, anyhow::Error>((kube_reach::rbac::preflight(&client, &ns, op).await?, ns))
    })?;
    for w in pre.warnings() {
        eprintln!("warning: {w}");
    }
    pre.require(op, &ns)?;
    println!("all permissions for {op:?} are granted in namespace {ns}");
    Ok(exit::OK)
}

/// Heap dump of a JVM in a pod into `out`: `jcmd` in the container (exec), or `triage jvm
/// heapdump` from an ephemeral container (`--via ephemeral`); copied out with verification and
/// deleted in the pod. Returns the local path.
pub fn heapdump_pod(
    target: &str,
    pid: Option<u32>,
    out: Option<&Path>,
    kube: &KubeArgs,
) -> anyhow::Result<PathBuf> {
    let dump = heapdump_pod_to(target, pid, HeapDest::Local(out), false, kube)?;
    Ok(dump
        .local_path
        .expect("a local destination gives a local path"))
}

/// Where a pod's heap dump goes.
pub enum HeapDest<'a> {
    /// A local file (default: `heap-<pod>-<UTC time>.hprof` here), written beside and renamed
    /// into place once verified.
    Local(Option<&'a Path>),
    /// An object, streamed pod → triage → store without touching the local disk; compressed
    /// with zstd on the way when the object's name ends in `.zst`.
    Remote {
        dest: &'a sink::Destination,
        file_name: &'a str,
    },
}

/// A pod's heap dump, where it went and what it holds.
pub struct PodHeapDump {
    pub pod: String,
    pub location: String,
    pub local_path: Option<PathBuf>,
    /// The dump as the JVM wrote it.
    pub dump: kube_reach::copy::StreamedFile,
    /// The stored object when it went to a store (compressed size and checksum).
    pub object: Option<sink::Receipt>,
    /// The class histogram, computed on the stream (`--analyze`).
    pub histogram: Option<hprof::Histogram>,
}

/// `Write` that also hands every byte to the histogram pass (which reads the other end), until
/// that pass stops.
struct Tee<'a> {
    out: &'a mut (dyn Write + Send),
    analysis: Option<std::sync::mpsc::SyncSender<Vec<u8>>>,
}

impl Write for Tee<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.out.write(buf)?;
        if let Some(tx) = &self.analysis
            && tx.send(buf[..n].to_vec()).is_err()
        {
            // The histogram pass gave up (its error is reported); the dump goes on.
            self.analysis = None;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

/// The reading end of a [`Tee`]: the dump's bytes as the histogram pass sees them.
struct ChannelReader {
    rx: std::sync::mpsc::Receiver<Vec<u8>>,
    chunk: Vec<u8>,
    at: usize,
}

impl std::io::Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.chunk.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.chunk = chunk;
                    self.at = 0;
                }
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.chunk.len() - self.at);
        buf[..n].copy_from_slice(&self.chunk[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

impl hprof::ByteStream for ChannelReader {}

/// Lets the exec stream write into a blocking writer (the upload pipe): a full pipe holds the
/// stream back, which is the back-pressure wanted.
struct BlockingWriter<'a, W: Write + Send>(&'a mut W);

impl<W: Write + Send> tokio::io::AsyncWrite for BlockingWriter<'_, W> {
    fn poll_write(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
        buf: &[u8],
    ) -> std::task::Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        std::task::Poll::Ready(tokio::task::block_in_place(|| this.0.write(buf)))
    }

    fn poll_flush(
        self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let this = self.get_mut();
        std::task::Poll::Ready(tokio::task::block_in_place(|| this.0.flush()))
    }

    fn poll_shutdown(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        self.poll_flush(cx)
    }
}

/// Heap dump of a JVM in a pod: `jcmd` in the container, or `triage jvm heapdump` from an
/// ephemeral container (`--via ephemeral`); then copied out (to a file) or streamed (to a store),
/// size and sha256 checked against the pod's own, and deleted in the pod. With `analyze`, the
/// class histogram is computed on the same stream.
pub fn heapdump_pod_to(
    target: &str,
    pid: Option<u32>,
    dest: HeapDest<'_>,
    analyze: bool,
    kube: &KubeArgs,
) -> anyhow::Result<PodHeapDump> {
    let op = if kube.via == Via::Ephemeral {
        Operation::SnapshotEphemeral
    } else {
        Operation::Copy
    };
    let rt = runtime()?;
    let (via, pod_name, remote) = rt.block_on(async {
        let (client, ns, pod, exec) = exec_target(kube, target, op).await?;
        let stamp = jiff::Timestamp::now().strftime("%Y%m%dT%H%M%SZ").to_string();
        let remote = format!("/tmp/triage-heap-{stamp}.hprof");
        let via = match kube.via {
            Via::Exec => exec.clone(),
            Via::Ephemeral => {
                let image = kube.image.clone().ok_or_else(|| anyhow::anyhow!("--via ephemeral needs --image IMAGE"))?;
                let spec = kube_reach::ephemeral::EphemeralSpec {
                    image,
                    command: Vec::new(),
                    target_container: exec.container.clone(),
                    timeout: Duration::from_secs(60),
                };
                kube_reach::ephemeral::start(&client, &ns, &pod, &spec).await?
            }
        };
        let jvm_pid = match pid {
            Some(p) => p,
            None => first_jvm_pid(&via).await.unwrap_or(1),
        };
        let result = match kube.via {
            Via::Exec => {
                let r = kube_reach::exec::run(&via, &["jcmd", &jvm_pid.to_string(), "GC.heap_dump", &remote], 1 << 20).await?;
                if r.command_missing() {
                    bail!(
                        "container {} of pod/{} has no jcmd: use --via ephemeral --image IMAGE (an image with triage) for a native attach",
                        via.container,
                        pod.name
                    );
                }
                (r.exit_code, r.stdout, r.stderr)
            }
            Via::Ephemeral => {
                let r = kube_reach::exec::run(
                    &via,
                    &[&kube.ephemeral_triage, "jvm", "heapdump", &format!("pid:{jvm_pid}"), "-o", &remote],
                    1 << 20,
                )
                .await?;
                if r.command_missing() {
                    bail!("the ephemeral image has no `{}`: pass --ephemeral-triage PATH or an image with triage", kube.ephemeral_triage);
                }
                (r.exit_code, r.stdout, r.stderr)
            }
        };
        if result.0 != 0 || String::from_utf8_lossy(&result.1).contains("Exception") {
            let _ = kube_reach::exec::run(&via, &["rm", "-f", &remote], 1 << 16).await;
            bail!(
                "the heap dump failed in pod/{} (exit code {}): {}{}",
                pod.name,
                result.0,
                String::from_utf8_lossy(&result.1).trim(),
                String::from_utf8_lossy(&result.2).trim()
            );
        }
        Ok::<_, anyhow::Error>((via, pod.name.clone(), remote))
    })?;

    // The histogram pass reads what the copy writes, on its own thread.
    let (analysis_tx, analysis) = if analyze && matches!(dest, HeapDest::Remote { .. }) {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<u8>>(16);
        let handle = std::thread::Builder::new()
            .name("histogram".into())
            .spawn(move || {
                hprof::histogram(
                    ChannelReader {
                        rx,
                        chunk: Vec::new(),
                        at: 0,
                    },
                    &hprof::HistogramOptions::default(),
                )
            })
            .context("starting the histogram pass")?;
        (Some(tx), Some(handle))
    } else {
        (None, None)
    };

    let copied: anyhow::Result<(
        Option<PathBuf>,
        kube_reach::copy::StreamedFile,
        Option<sink::Receipt>,
        String,
    )> = match dest {
        HeapDest::Local(out) => {
            let stamp = jiff::Timestamp::now()
                .strftime("%Y%m%dT%H%M%SZ")
                .to_string();
            let path = out
                .map(Path::to_path_buf)
                .unwrap_or_else(|| PathBuf::from(format!("heap-{pod_name}-{stamp}.hprof")));
            rt.block_on(kube_reach::copy::copy_file_out(&via, &remote, &path))
                .map_err(anyhow::Error::from)
                .map(|c| {
                    let streamed = kube_reach::copy::StreamedFile {
                        remote_path: c.remote_path,
                        size_bytes: c.size_bytes,
                        sha256: c.sha256,
                        verification: c.verification,
                    };
                    (
                        Some(c.local_path),
                        streamed,
                        None,
                        path.display().to_string(),
                    )
                })
        }
        HeapDest::Remote { dest, file_name } => {
            let compress = dest.location_of(file_name).ends_with(".zst");
            let mut analysis_tx = analysis_tx.clone();
            super::out::stream_to(dest, file_name, |w| {
                let mut copy = |out: &mut (dyn Write + Send)| {
                    let mut tee = Tee {
                        out,
                        analysis: analysis_tx.take(),
                    };
                    rt.block_on(kube_reach::copy::stream_file_out(
                        &via,
                        &remote,
                        &mut BlockingWriter(&mut tee),
                    ))
                    .map_err(anyhow::Error::from)
                };
                if compress {
                    let mut encoder = zstd::stream::write::Encoder::new(w, 3)
                        .context("starting zstd compression")?;
                    let streamed = copy(&mut encoder)?;
                    encoder.finish().context("finishing zstd compression")?;
                    Ok(streamed)
                } else {
                    copy(w)
                }
            })
            .map(|(streamed, receipt)| {
                let location = receipt.location.clone();
                (None, streamed, Some(receipt), location)
            })
        }
    };
    drop(analysis_tx);
    let _ = rt.block_on(kube_reach::exec::run(&via, &["rm", "-f", &remote], 1 << 16));
    let (local_path, streamed, object, location) = copied?;
    if let kube_reach::copy::Verification::Unverified(why) = &streamed.verification {
        tracing::warn!("heap dump copy unverified: {why}");
    }
    // A streamed dump was read on the way; a local copy is read back from its file.
    let histogram = match (analysis, &local_path) {
        (Some(handle), _) => Some(
            handle
                .join()
                .map_err(|_| anyhow::anyhow!("the histogram pass panicked"))?,
        ),
        (None, Some(path)) if analyze => Some(hprof::histogram_of_path(
            path,
            &hprof::HistogramOptions::default(),
        )),
        _ => None,
    }
    .transpose()
    .with_context(|| format!("class histogram of the heap dump {location}"))?;
    Ok(PodHeapDump {
        pod: pod_name,
        location,
        local_path,
        dump: streamed,
        object,
        histogram,
    })
}

/// Run a diagnostic command in a JVM of a pod (`Thread.print -l`, `GC.class_histogram`,
/// `VM.flags`) and return its output: `jcmd` in the container, or `triage jvm jcmd` from an
/// ephemeral container (`--via ephemeral`).
pub fn jcmd_pod(
    target: &str,
    pid: Option<u32>,
    command: &[String],
    kube: &KubeArgs,
) -> anyhow::Result<Vec<u8>> {
    if command.is_empty() {
        bail!("name a diagnostic command, e.g. Thread.print or GC.class_histogram");
    }
    let op = if kube.via == Via::Ephemeral {
        Operation::SnapshotEphemeral
    } else {
        Operation::Copy
    };
    runtime()?.block_on(async {
        let (client, ns, pod, exec) = exec_target(kube, target, op).await?;
        let via = match kube.via {
            Via::Exec => exec,
            Via::Ephemeral => {
                let image = kube.image.clone().ok_or_else(|| anyhow::anyhow!("--via ephemeral needs --image IMAGE"))?;
                let spec = kube_reach::ephemeral::EphemeralSpec {
                    image,
                    command: Vec::new(),
                    target_container: exec.container.clone(),
                    timeout: Duration::from_secs(60),
                };
                kube_reach::ephemeral::start(&client, &ns, &pod, &spec).await?
            }
        };
        let jvm_pid = match pid {
            Some(p) => p,
            None => first_jvm_pid(&via).await.unwrap_or(1),
        };
        let pid_arg = jvm_pid.to_string();
        let pid_target = format!("pid:{jvm_pid}");
        let mut argv: Vec<&str> = match kube.via {
            Via::Exec => vec!["jcmd", pid_arg.as_str()],
            Via::Ephemeral => vec![kube.ephemeral_triage.as_str(), "jvm", "jcmd", pid_target.as_str(), "--"],
        };
        argv.extend(command.iter().map(String::as_str));
        let out = kube_reach::exec::run(&via, &argv, 256 << 20).await?;
        if out.command_missing() {
            bail!(
                "`{}` is not in container {} of pod/{}: use --via ephemeral --image IMAGE (an image with triage)",
                argv[0],
                via.container,
                pod.name
            );
        }
        if out.exit_code != 0 {
            bail!(
                "{} in pod/{} exited with {}: {}{}",
                argv.join(" "),
                pod.name,
                out.exit_code,
                String::from_utf8_lossy(&out.stdout).trim(),
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(out.stdout)
    })
}

/// The first JVM `jcmd -l` lists (other than jcmd itself).
async fn first_jvm_pid(target: &ExecTarget) -> Option<u32> {
    let out = kube_reach::exec::run(target, &["jcmd", "-l"], 1 << 20)
        .await
        .ok()?;
    if out.exit_code != 0 {
        return None;
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.contains("sun.tools.jcmd") && !l.contains("jdk.jcmd"))
        .find_map(|l| l.split_whitespace().next()?.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use testcluster::Background;

    fn kube_args(c: &Background) -> KubeArgs {
        KubeArgs {
            kubeconfig: Some(c.kubeconfig_path()),
            parallel: 4,
            log_bytes: 5_000_000,
            ..Default::default()
        }
    }

    #[test]
    fn targets_are_recognised() {
        assert!(is_kube_target("pod/web"));
        assert!(is_kube_target("deploy/api"));
        assert!(!is_kube_target("pid:12"));
        assert!(!is_kube_target("host"));
        assert_eq!(
            split_remote("pod/web:/tmp/x").unwrap(),
            ("pod/web".to_string(), "/tmp/x".to_string())
        );
        assert!(split_remote("pod/web:tmp/x").is_err());
    }

    #[test]
    fn snapshot_of_a_deployment_writes_pod_data_logs_container_files_and_findings() {
        let Some(c) = Background::start_for_test(
            "snapshot_of_a_deployment_writes_pod_data_logs_container_files_and_findings",
            &[
                "web,app=web,deploy=web,replicas=2,image=nginx:latest,secret-env=API_TOKEN/api/token:\
                 echo 'dial tcp: lookup db.internal: Temporary failure in name resolution'; echo password=hunter2; exec sleep 1000",
                "other,app=other:exec sleep 1000",
            ],
            |_| {},
        ) else {
            return;
        };
        std::thread::sleep(Duration::from_millis(300));
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("b.tar.zst");
        let code = snapshot_pod(
            Some("deploy/web"),
            &kube_args(&c),
            Some(&out),
            true,
            Duration::from_secs(60),
            &Default::default(),
        )
        .unwrap();
        assert_eq!(code, exit::OK);
        let reader = bundle::reader::BundleReader::open(&out).unwrap();
        assert!(reader.verify().unwrap().is_clean());
        let pods: serde_json::Value =
            serde_json::from_slice(&reader.read_member("kubernetes/pods.json").unwrap()).unwrap();
        let names: Vec<&str> = pods["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["web-0", "web-1"]);
        let log =
            String::from_utf8(reader.read_member("logs/default/web-0/main.log").unwrap()).unwrap();
        assert!(
            log.contains("Temporary failure in name resolution"),
            "{log}"
        );
        // Redacted before it was written.
        assert!(!log.contains("hunter2"), "{log}");
        let snap: serde_json::Value = serde_json::from_slice(
            &reader
                .read_member("pods/default/web-0/main/snapshot.json")
                .unwrap(),
        )
        .unwrap();
        assert!(
            snap["processes"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["command"].as_str().unwrap_or("").contains("sleep 1000"))
        );
        assert!(
            reader
                .read_member("pods/default/web-0/main/raw/proc/meminfo")
                .is_ok()
        );
        let owners: serde_json::Value = serde_json::from_slice(
            &reader
                .read_member("kubernetes/default/web-0/owners.json")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(owners[1]["kind"], "Deployment");
        let pod: serde_json::Value = serde_json::from_slice(
            &reader
                .read_member("kubernetes/default/web-0/pod.json")
                .unwrap(),
        )
        .unwrap();
        assert_eq!(
            pod["spec"]["containers"][0]["env"][0]["valueFrom"]["secretKeyRef"]["name"],
            "api"
        );
        let findings: serde_json::Value =
            serde_json::from_slice(&reader.read_member("findings.json").unwrap()).unwrap();
        let ids: Vec<&str> = findings["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["id"].as_str().unwrap())
            .collect();
        for expected in ["L-DNS", "P-IMAGE-TAG", "P-PROBES", "P-RESOURCES"] {
            assert!(ids.contains(&expected), "{expected} missing from {ids:?}");
        }
        let manifest = reader.manifest().unwrap();
        assert!(manifest.collectors.iter().any(
            |r| r.name == "exec default/web-1 main" && r.status == bundle::CollectorStatus::Ok
        ));
        // No Secret was read.
        assert!(c.requests().iter().all(|r| !r.contains("/secrets")));
    }

    #[test]
    fn denied_exec_names_the_missing_permission_and_keeps_nothing_half_written() {
        let Some(c) = Background::start_for_test(
            "denied_exec_names_the_missing_permission_and_keeps_nothing_half_written",
            &["web,app=web:exec sleep 1000"],
            |cfg| cfg.deny = vec!["create pods/exec".into()],
        ) else {
            return;
        };
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("b.tar.zst");
        let err = snapshot_pod(
            Some("pod/web"),
            &kube_args(&c),
            Some(&out),
            false,
            Duration::from_secs(60),
            &Default::default(),
        )
        .unwrap_err();
        let msg = format!("{err:#}");
        assert!(
            msg.contains("create pods/exec") && msg.contains("docs/rbac.yaml"),
            "{msg}"
        );
        assert!(!out.exists());
        let err = copy_from_pod(
            "pod/web:/etc/hostname",
            &dir.path().join("h"),
            &kube_args(&c),
        )
        .unwrap_err();
        assert!(format!("{err:#}").contains("create pods/exec"), "{err:#}");
    }

    #[test]
    fn copy_out_and_not_found_suggestions() {
        let Some(c) = Background::start_for_test(
            "copy_out_and_not_found_suggestions",
            &["web,app=web:echo hello > /tmp/f; exec sleep 1000"],
            |_| {},
        ) else {
            return;
        };
        std::thread::sleep(Duration::from_millis(300));
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("f");
        assert_eq!(
            copy_from_pod("pod/web:/tmp/f", &dest, &kube_args(&c)).unwrap(),
            exit::OK
        );
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello\n");
        let err =
            copy_from_pod("pod/wbe:/tmp/f", &dir.path().join("g"), &kube_args(&c)).unwrap_err();
        assert!(
            format!("{err:#}").contains("did you mean pod/web"),
            "{err:#}"
        );
    }

    const SLEEPER: &str = r#"
public class Sleeper {
    static byte[][] keep = new byte[32][];
    public static void main(String[] args) throws Exception {
        for (int i = 0; i < keep.length; i++) keep[i] = new byte[8 * 1024];
        System.out.println("jvm up");
        Thread.sleep(600_000);
    }
}
"#;

    #[test]
    fn heap_dump_of_a_jvm_pod_by_exec_and_by_ephemeral_container() {
        let test = "heap_dump_of_a_jvm_pod_by_exec_and_by_ephemeral_container";
        let Some(java) = testkit::require_program("java", test) else {
            return;
        };
        // jcmd runs in the container (exec); jattach stands in for the ephemeral image's triage.
        let Some(_) = testkit::require_program("jcmd", test) else {
            return;
        };
        let Some(jattach) = testkit::require_program("jattach", test) else {
            return;
        };
        let Some(classes) = testkit::compile_java(test, "Sleeper", SLEEPER) else {
            return;
        };
        let spec = format!(
            "jvm,app=jvm:exec {} -Xmx64m -cp {} Sleeper",
            java.display(),
            classes.path().display()
        );
        // The classes and the stand-in for the ephemeral image's triage are under the host's
        // /tmp, which every container's private /tmp hides: shared with the containers.
        let dir = tempfile::tempdir().unwrap();
        // Written before the server starts: a script still open for writing while another thread
        // forks cannot be executed (ETXTBSY); written late, the ephemeral step failed under load.
        let wrapper = dir.path().join("triage-in-image");
        std::fs::write(
            &wrapper,
            format!(
                "#!/bin/sh\n# jvm heapdump pid:N -o PATH: dump in the JVM's /tmp, stream it out through /proc/N/root\n\
                 pid=${{3#pid:}}\n{} \"$pid\" dumpheap /tmp/eph.hprof >&2 || exit 1\n\
                 cat /proc/$pid/root/tmp/eph.hprof > \"$5\" && rm -f /proc/$pid/root/tmp/eph.hprof\n",
                jattach.display()
            ),
        )
        .unwrap();
        std::fs::set_permissions(
            &wrapper,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        let Some(c) = Background::start_for_test(test, &[&spec], |cfg| {
            cfg.shared_dirs = vec![classes.path().to_path_buf(), dir.path().to_path_buf()]
        }) else {
            return;
        };
        let pod = c.cluster.pod("default", "jvm").unwrap();
        let pid = pod.containers[0].exec_pid().unwrap();
        for _ in 0..100 {
            if std::fs::read_to_string(format!("/proc/{pid}/root/proc/1/cmdline"))
                .is_ok_and(|s| s.contains("Sleeper"))
            {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        std::thread::sleep(Duration::from_millis(700));
        let threads = jcmd_pod(
            "pod/jvm",
            None,
            &["Thread.print".to_string()],
            &kube_args(&c),
        )
        .unwrap();
        assert!(
            String::from_utf8_lossy(&threads).contains("\"main\""),
            "{}",
            String::from_utf8_lossy(&threads)
        );
        let by_exec = heapdump_pod(
            "pod/jvm",
            None,
            Some(&dir.path().join("exec.hprof")),
            &kube_args(&c),
        )
        .unwrap();
        let data = std::fs::read(&by_exec).unwrap();
        assert!(data.starts_with(b"JAVA PROFILE 1.0.2\0"));
        // From an ephemeral container sharing the pid namespace, with the attach tool it carries.
        // jattach stands in for the image's triage: the same attach protocol, and like triage it
        // reaches the JVM's /tmp across the mount namespaces. (JDK 17's jcmd cannot do that
        // from a sibling container: when its pid equals the namespace pid it looks for the
        // attach socket in its own /tmp, which an ephemeral container does not share.)
        let args = KubeArgs {
            via: Via::Ephemeral,
            image: Some("triage:test".into()),
            ..kube_args(&c)
        };
        let args = KubeArgs {
            ephemeral_triage: wrapper.display().to_string(),
            ..args
        };
        let by_eph = heapdump_pod(
            "pod/jvm",
            Some(1),
            Some(&dir.path().join("eph.hprof")),
            &args,
        )
        .unwrap();
        assert!(
            std::fs::read(&by_eph)
                .unwrap()
                .starts_with(b"JAVA PROFILE 1.0.2\0")
        );
    }
}
