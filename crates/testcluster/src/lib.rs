//! An API-compatible Kubernetes test server whose pods are real local processes.
//!
//! What it is for: trying and testing a Kubernetes client (triage, kubectl) without a cluster.
//! Each pod container is a real process tree in its own pid and mount namespace with a private
//! tmpfs `/tmp` (the rest of the host's filesystem is its image; host directories under `/tmp`
//! that a test prepared are shared explicitly, [`ClusterConfig::shared_dirs`]); its logs are its real stdout and stderr; exec really runs inside the pod's
//! namespaces (`nsenter`), so `/proc` in an exec is the pod's; port-forward connects to the pod's
//! real listening socket (pods share the host network); an ephemeral container is a process in the
//! target container's pid namespace. It serves discovery, pods (get, list with label and field
//! selectors), nodes, events, logs, exec and port-forward over websockets (v5 and v4 channel
//! protocols), ephemeral-container patches, workloads, Services, EndpointSlices, PDBs and
//! SelfSubjectAccessReview with a configurable deny list. It listens on loopback only, over
//! plain HTTP (kubectl and kube-rs accept an `http://` server in a kubeconfig).
//!
//! What it is not for: anything but tests and demos. There is no authentication, no watch, no
//! create/delete of objects, no scheduler; SPDY is not spoken (kubectl ≥ 1.30 uses websockets).
//! It needs root (namespaces).
//!
//! Why hand-written: no existing fake API server runs real processes behind exec, logs and
//! port-forward, which is what makes tests of copy-out, /proc collection and JVM attach real.

pub mod cluster;
pub mod objects;
pub mod runtime;
pub mod selector;
pub mod server;
pub mod spec;
pub mod stream;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

pub use cluster::{Cluster, ClusterConfig};
pub use spec::{ContainerSpec, PodSpec};

/// The one node every pod runs on.
pub const NODE_NAME: &str = "testnode";
/// The version the server reports.
pub const KUBELET_VERSION: &str = "v1.33.0-triage-testcluster";

/// A server that is running.
pub struct Running {
    pub addr: SocketAddr,
    pub cluster: Arc<Cluster>,
    server: tokio::task::JoinHandle<()>,
}

impl Running {
    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig pointing at this server, namespace `default`.
    pub fn kubeconfig(&self) -> String {
        kubeconfig_text(&self.url())
    }

    /// Write [`Running::kubeconfig`] to `path` (mode 0600).
    pub fn write_kubeconfig(&self, path: &Path) -> std::io::Result<()> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(self.kubeconfig().as_bytes())
    }

    /// Requests served so far (`METHOD /path?query`).
    pub fn requests(&self) -> Vec<String> {
        self.cluster
            .requests
            .lock()
            .expect("request log lock")
            .clone()
    }

    /// Stop the server and every pod.
    pub async fn stop(self) {
        self.server.abort();
        self.cluster.stop().await;
    }
}

/// The kubeconfig text for a server URL.
pub fn kubeconfig_text(url: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: triage-testcluster\n  cluster:\n    server: {url}\n\
         users:\n- name: triage-test\n  user: {{}}\ncontexts:\n- name: triage-testcluster\n  context:\n    cluster: triage-testcluster\n    \
         user: triage-test\n    namespace: default\ncurrent-context: triage-testcluster\npreferences: {{}}\n"
    )
}

/// Start the pods, then serve on `127.0.0.1:port` (0: any free port).
pub async fn serve(
    config: ClusterConfig,
    extra_containers: Vec<(String, ContainerSpec)>,
    port: u16,
) -> std::io::Result<Running> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    let addr = listener.local_addr()?;
    let cluster = Cluster::start(config, extra_containers).await?;
    let app = Arc::new(server::App {
        cluster: cluster.clone(),
        addr: addr.to_string(),
    });
    let router = axum::Router::new().fallback(server::handle).with_state(app);
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!("test server stopped: {e}");
        }
    });
    Ok(Running {
        addr,
        cluster,
        server,
    })
}

/// A server on its own runtime thread, for synchronous tests. Dropping it stops the pods.
pub struct Background {
    pub addr: SocketAddr,
    pub cluster: Arc<Cluster>,
    kubeconfig_dir: tempfile::TempDir,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// For tests: the configuration of one pod per spec (`NAME[,key=value…]:COMMAND`), after `tweak`
/// adjusts it; `None` (the test skips, or fails under `TRIAGE_REQUIRE_EXTERNAL=1`) without root,
/// `unshare` or `nsenter`, which the pods' pid and mount namespaces need.
pub fn test_config(
    test: &str,
    specs: &[&str],
    tweak: impl FnOnce(&mut ClusterConfig),
) -> Option<ClusterConfig> {
    if !testkit::is_root() {
        testkit::skip_or_fail(
            test,
            "the test server needs root (pid and mount namespaces)",
        );
        return None;
    }
    testkit::require_program("unshare", test)?;
    testkit::require_program("nsenter", test)?;
    let mut config = ClusterConfig::default();
    for s in specs {
        config
            .pods
            .extend(PodSpec::parse(s).expect("a valid pod spec"));
    }
    tweak(&mut config);
    Some(config)
}

impl Background {
    /// For tests: start one pod per spec (`NAME[,key=value…]:COMMAND`), after `tweak` adjusts the
    /// configuration. `None` (the test skips, or fails under `TRIAGE_REQUIRE_EXTERNAL=1`) without
    /// root, `unshare` or `nsenter`, which the pods' pid and mount namespaces need.
    pub fn start_for_test(
        test: &str,
        specs: &[&str],
        tweak: impl FnOnce(&mut ClusterConfig),
    ) -> Option<Background> {
        let config = test_config(test, specs, tweak)?;
        Some(Background::start(config).expect("starting the test server"))
    }

    /// Start `config` on a new thread; returns once every pod runs.
    pub fn start(config: ClusterConfig) -> std::io::Result<Background> {
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("testcluster".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                rt.block_on(async move {
                    match serve(config, Vec::new(), 0).await {
                        Ok(running) => {
                            let _ = ready_tx.send(Ok((running.addr, running.cluster.clone())));
                            let _ = stop_rx.await;
                            running.stop().await;
                        }
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                        }
                    }
                });
            })?;
        let (addr, cluster) = ready_rx.recv().map_err(|_| {
            std::io::Error::other("the test server thread ended before it was ready")
        })??;
        let kubeconfig_dir = tempfile::Builder::new()
            .prefix("triage-kubeconfig-")
            .tempdir()?;
        std::fs::write(
            kubeconfig_dir.path().join("config"),
            kubeconfig_text(&format!("http://{addr}")),
        )?;
        Ok(Background {
            addr,
            cluster,
            kubeconfig_dir,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }

    /// Path of a kubeconfig pointing at this server.
    pub fn kubeconfig_path(&self) -> std::path::PathBuf {
        self.kubeconfig_dir.path().join("config")
    }

    /// Requests served so far.
    pub fn requests(&self) -> Vec<String> {
        self.cluster
            .requests
            .lock()
            .expect("request log lock")
            .clone()
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
