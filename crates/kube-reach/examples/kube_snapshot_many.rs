//! Resolve a target and snapshot every pod (objects, events, node, logs and the container's
//! /proc by exec) with bounded concurrency — the work of `triage pod snapshot` without the
//! bundle — for the many-pods benchmark: `kube_snapshot_many KUBECONFIG TARGET CONCURRENCY`.

use std::time::Instant;

use futures_util::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, kubeconfig, target, concurrency] = &args[..] else {
        return Err("usage: kube_snapshot_many KUBECONFIG TARGET CONCURRENCY".into());
    };
    let concurrency: usize = concurrency.parse()?;
    let started = Instant::now();
    let options = kube_reach::KubeOptions {
        kubeconfig: Some(kubeconfig.into()),
        ..Default::default()
    };
    let (client, ns) = kube_reach::connect(&options).await?;
    let pods = kube_reach::resolve(&client, &ns, &kube_reach::Target::parse(target)?).await?;
    let resolved = started.elapsed();
    let cache = kube_reach::collect::CollectCache::default();
    let results: Vec<(usize, bool)> = futures_util::stream::iter(pods.iter())
        .map(|p| {
            let cache = &cache;
            let client = client.clone();
            let ns = ns.clone();
            async move {
                let data =
                    kube_reach::collect::collect_pod_cached(&client, p, &Default::default(), cache)
                        .await;
                let container = p.running_container(None).map(|c| c.name.clone());
                let ok = match container {
                    Ok(c) => {
                        let t = kube_reach::exec::ExecTarget::new(client.clone(), &ns, &p.name, &c);
                        kube_reach::procfs::snapshot_container(&t, &Default::default())
                            .await
                            .is_ok()
                    }
                    Err(_) => false,
                };
                (data.warnings.len(), ok)
            }
        })
        .buffer_unordered(concurrency.max(1))
        .collect()
        .await;
    let total = started.elapsed();
    let ok = results.iter().filter(|(_, ok)| *ok).count();
    let warnings: usize = results.iter().map(|(w, _)| w).sum();
    println!(
        "pods={} resolved_in={:.2}s snapshot_total={:.2}s exec_snapshots_ok={ok} warnings={warnings}",
        pods.len(),
        resolved.as_secs_f64(),
        total.as_secs_f64()
    );
    Ok(())
}
