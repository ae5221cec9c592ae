//! Copy one file out of a pod with kube-reach's verified copy (the code path of `triage pod cp`),
//! for the copy-out benchmark: `kube_copy KUBECONFIG POD /remote/path LOCAL`.

use std::time::Instant;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let [_, kubeconfig, pod, remote, local] = &args[..] else {
        return Err("usage: kube_copy KUBECONFIG POD /remote/path LOCAL".into());
    };
    let options = kube_reach::KubeOptions {
        kubeconfig: Some(kubeconfig.into()),
        ..Default::default()
    };
    let (client, ns) = kube_reach::connect(&options).await?;
    let pods = kube_reach::resolve(&client, &ns, &kube_reach::Target::Pod(pod.clone())).await?;
    let container = pods[0].running_container(None)?.name.clone();
    let target = kube_reach::exec::ExecTarget::new(client, &ns, pod, &container);
    let started = Instant::now();
    let copied =
        kube_reach::copy::copy_file_out(&target, remote, std::path::Path::new(local)).await?;
    let secs = started.elapsed().as_secs_f64();
    eprintln!(
        "copied {} bytes in {secs:.2}s ({:.0} MiB/s), {:?}",
        copied.size_bytes,
        copied.size_bytes as f64 / secs / 1048576.0,
        copied.verification
    );
    Ok(())
}
