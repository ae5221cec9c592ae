//! A client like kubectl builds one: `--kubeconfig`, else `KUBECONFIG`, else `~/.kube/config`,
//! else the in-cluster service account; `--context` picks a context; the namespace is `-n`, else
//! the context's, else `default`.

use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::{Error, Result};

/// Connection options, named after kubectl's flags.
#[derive(Debug, Clone, Default)]
pub struct KubeOptions {
    pub kubeconfig: Option<PathBuf>,
    pub context: Option<String>,
    pub namespace: Option<String>,
}

/// rustls needs exactly one process-wide crypto provider; this crate links aws-lc-rs only.
pub fn install_crypto_provider() {
    // An error means one is installed already (by another crate): that is fine.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// Build a client and the namespace to use.
pub async fn connect(options: &KubeOptions) -> Result<(Client, String)> {
    install_crypto_provider();
    let kc_options = KubeConfigOptions {
        context: options.context.clone(),
        cluster: None,
        user: None,
    };
    let config = match &options.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path)
                .map_err(|e| Error::Config(format!("reading {}: {e}", path.display())))?;
            Config::from_custom_kubeconfig(kubeconfig, &kc_options)
                .await
                .map_err(|e| Error::Config(format!("{}: {e}", path.display())))?
        }
        None if options.context.is_some() => Config::from_kubeconfig(&kc_options)
            .await
            .map_err(|e| Error::Config(e.to_string()))?,
        None => Config::infer()
            .await
            .map_err(|e| Error::Config(e.to_string()))?,
    };
    let namespace = options
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client =
        Client::try_from(config).map_err(|e| Error::Config(format!("building the client: {e}")))?;
    Ok((client, namespace))
}
