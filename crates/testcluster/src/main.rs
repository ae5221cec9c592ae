//! `triage-testcluster`: run the API-compatible test server until killed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use testcluster::{ClusterConfig, PodSpec};

#[derive(Parser, Debug)]
#[command(
    name = "triage-testcluster",
    about = "A Kubernetes API-compatible test server whose pods are real local process trees (needs root).",
    after_help = "POD SPEC: NAME[,key=value…]:COMMAND — keys: container, image, namespace, restart=Always|Never, \
deploy|sts|ds=NAME, replicas=N, port=NAME/NUMBER, annotation.K=V, env.K=V, path-prepend=DIR, \
secret-env=ENV/SECRET/KEY, requests.cpu|memory=Q, limits.cpu|memory=Q, privileged=true; any other key=value is a label.\n\n\
EXAMPLE:\n  triage-testcluster --kubeconfig /tmp/kc --pod 'web,app=web,deploy=web:python3 -m http.server 8080'\n  \
KUBECONFIG=/tmp/kc kubectl get pod web -o json"
)]
struct Args {
    /// Write a kubeconfig pointing at this server here.
    #[arg(long)]
    kubeconfig: PathBuf,
    /// A pod: NAME[,key=value…]:COMMAND (repeatable).
    #[arg(long = "pod", required = true)]
    pods: Vec<String>,
    /// One more container in a pod: POD/CONTAINER[,key=value…]:COMMAND (repeatable).
    #[arg(long = "container")]
    containers: Vec<String>,
    /// Deny a permission: "VERB RESOURCE[/SUBRESOURCE]", e.g. "create pods/exec" (repeatable).
    #[arg(long)]
    deny: Vec<String>,
    /// A Service: NAME:SELECTOR (e.g. web:app=web) in namespace default (repeatable).
    #[arg(long = "service")]
    services: Vec<String>,
    /// A PodDisruptionBudget: NAME:SELECTOR:MIN_AVAILABLE (repeatable).
    #[arg(long = "pdb")]
    pdbs: Vec<String>,
    /// A host directory every container sees at the same path, read-only, even under /tmp (the
    /// containers' /tmp is private) (repeatable).
    #[arg(long = "shared-dir")]
    shared_dirs: Vec<PathBuf>,
    /// Delay added to every API answer, in milliseconds.
    #[arg(long, default_value_t = 0)]
    latency_ms: u64,
    /// Port on 127.0.0.1 (0: any free port).
    #[arg(long, default_value_t = 0)]
    port: u16,
}

fn selector(s: &str) -> BTreeMap<String, String> {
    s.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let mut config = ClusterConfig {
        deny: args.deny,
        latency: Duration::from_millis(args.latency_ms),
        shared_dirs: args.shared_dirs,
        ..Default::default()
    };
    for p in &args.pods {
        config.pods.extend(PodSpec::parse(p)?);
    }
    for s in &args.services {
        let (name, sel) = s.split_once(':').context("--service wants NAME:SELECTOR")?;
        config
            .services
            .push(("default".into(), name.into(), selector(sel)));
    }
    for p in &args.pdbs {
        let mut parts = p.splitn(3, ':');
        let (Some(name), Some(sel), Some(min)) = (parts.next(), parts.next(), parts.next()) else {
            anyhow::bail!("--pdb wants NAME:SELECTOR:MIN_AVAILABLE, got {p:?}");
        };
        config.pdbs.push((
            "default".into(),
            name.into(),
            selector(sel),
            min.parse().context("MIN_AVAILABLE must be a number")?,
        ));
    }
    let extra = args
        .containers
        .iter()
        .map(|c| PodSpec::parse_extra_container(c))
        .collect::<Result<Vec<_>, _>>()?;
    let running = testcluster::serve(config, extra, args.port)
        .await
        .context("starting the test server")?;
    running
        .write_kubeconfig(&args.kubeconfig)
        .with_context(|| format!("writing the kubeconfig {}", args.kubeconfig.display()))?;
    eprintln!(
        "triage-testcluster: serving {} ({} pods); kubeconfig written to {}; Ctrl-C to stop",
        running.url(),
        running.cluster.pods.len(),
        args.kubeconfig.display()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    running.stop().await;
    Ok(())
}
