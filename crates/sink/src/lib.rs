//! Where artifacts go: a local path, or an object store (`file://`, `s3://`, `gs://`, `az://`)
//! through `object_store`.
//!
//! Every artifact is streamed: to a temporary name renamed into place for local paths, or as a
//! multipart upload (16–64 MiB parts, a bounded number in flight, so memory stays flat whatever the
//! size) for object stores. Nothing half-written ever claims success: a failed multipart upload is
//! aborted, a failed local write deletes its temporary file. [`deliver`] retries a failed upload
//! with backoff by reopening the source, and when it finally fails keeps a complete local copy and
//! says where. On S3 every part also carries its sha256 (`x-amz-checksum-sha256`), so the server
//! itself refuses a part that arrived different from what was read.
//!
//! Credentials stay with the process running triage: they come from the environment handed in
//! ([`Env`], filtered by the `AWS_` / `GOOGLE_` / `AZURE_` prefixes) or from the identity
//! `object_store` discovers (instance metadata, workload identity). Error messages name the
//! variables that were looked at, never their values.
//!
//! Not for: compressing (callers wrap the reader), naming (callers pass a unique file name, see
//! [`artifact_name`]), or progress display (callers pass a callback).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

/// Everything that can go wrong delivering an artifact.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "destination {spec:?}: unknown URL scheme {scheme:?}; use a path, file://, s3://, gs:// or az://"
    )]
    UnknownScheme { spec: String, scheme: String },
    #[error("destination {spec:?} is not a valid URL: {why}")]
    BadUrl { spec: String, why: String },
    #[error("configuring {scheme} for {spec:?}: {why} (environment variables looked at: {tried})")]
    Config {
        spec: String,
        scheme: &'static str,
        why: String,
        tried: String,
    },
    #[error("{action} {path}: {source}")]
    Io {
        action: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "{location} already exists; triage never overwrites an artifact (choose another --out)"
    )]
    AlreadyExists { location: String },
    #[error("uploading to {location}: {source}{hint}")]
    Upload {
        location: String,
        hint: String,
        #[source]
        source: object_store::Error,
    },
    #[error("reading the artifact while uploading it to {location}: {source}")]
    Source {
        location: String,
        #[source]
        source: std::io::Error,
    },
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The environment variables a destination may use (pass `Env::from_process()` in the CLI, a
/// hand-made map in tests). Only `AWS_`, `GOOGLE_`, `AZURE_` and `SERVICE_ACCOUNT` are ever read.
#[derive(Debug, Clone, Default)]
pub struct Env(BTreeMap<String, String>);

impl Env {
    /// The variables of this process that object stores use.
    pub fn from_process() -> Self {
        Self::from_pairs(std::env::vars())
    }

    /// Keep only the variables object stores use.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        Self(
            pairs
                .into_iter()
                .filter(|(k, _)| {
                    k.starts_with("AWS_")
                        || k.starts_with("GOOGLE_")
                        || k.starts_with("AZURE_")
                        || k == "SERVICE_ACCOUNT"
                })
                .collect(),
        )
    }

    fn with_prefix<'a>(
        &'a self,
        prefix: &'a str,
    ) -> impl Iterator<Item = (&'a String, &'a String)> + 'a {
        self.0.iter().filter(move |(k, _)| k.starts_with(prefix))
    }

    fn names(&self, prefix: &str) -> String {
        let names: Vec<&str> = self.with_prefix(prefix).map(|(k, _)| k.as_str()).collect();
        if names.is_empty() {
            format!("no {prefix}* variable is set")
        } else {
            names.join(", ")
        }
    }

    fn has(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }
}

/// The GCS base URL the store will use, when one other than Google's is configured: the
/// `GOOGLE_BASE_URL` variable, else `gcs_base_url` in the service-account JSON (given inline by
/// `GOOGLE_SERVICE_ACCOUNT_KEY` or as a file by `GOOGLE_SERVICE_ACCOUNT[_PATH]` /
/// `SERVICE_ACCOUNT`). The file is read at most 1 MiB deep; anything unreadable counts as unset
/// (object_store reports the credentials problem itself).
fn gcs_base_url(env: &Env) -> Option<String> {
    if let Some(url) = env.0.get("GOOGLE_BASE_URL") {
        return Some(url.clone());
    }
    let json = match env.0.get("GOOGLE_SERVICE_ACCOUNT_KEY") {
        Some(key) => key.clone(),
        None => {
            let path = [
                "GOOGLE_SERVICE_ACCOUNT",
                "GOOGLE_SERVICE_ACCOUNT_PATH",
                "SERVICE_ACCOUNT",
            ]
            .iter()
            .find_map(|k| env.0.get(*k))?;
            let mut text = String::new();
            std::io::Read::read_to_string(
                &mut std::io::Read::take(std::fs::File::open(path).ok()?, 1 << 20),
                &mut text,
            )
            .ok()?;
            text
        }
    };
    let value: serde_json::Value = serde_json::from_str(&json).ok()?;
    value.get("gcs_base_url")?.as_str().map(str::to_string)
}

/// How hard the object-store client retries one request before the upload counts as failed.
#[derive(Debug, Clone, Copy)]
pub struct RetrySettings {
    pub max_retries: usize,
    pub retry_timeout: Duration,
    pub request_timeout: Duration,
}

impl Default for RetrySettings {
    fn default() -> Self {
        Self {
            max_retries: 5,
            retry_timeout: Duration::from_secs(120),
            request_timeout: Duration::from_secs(300),
        }
    }
}

/// A parsed `--out` value.
#[derive(Debug, Clone)]
pub enum Destination {
    /// A local file, or a directory to put the artifact in.
    Local { path: PathBuf, is_dir: bool },
    /// An object store location: a prefix (ends with `/`) or an exact object key.
    Store {
        url: String,
        store: Arc<dyn ObjectStore>,
        prefix: ObjectPath,
        is_dir: bool,
    },
}

impl Destination {
    /// Parse `spec`: a path, or `file://`, `s3://`, `gs://`, `az://` (also `azure://`, `abfs://`,
    /// `s3a://`) URL. A trailing `/` or an existing directory means "put artifacts inside".
    pub fn parse(spec: &str, env: &Env, retry: RetrySettings) -> Result<Self> {
        let Some((scheme, _)) = spec.split_once("://") else {
            let path = PathBuf::from(spec);
            let is_dir = spec.ends_with('/') || path.is_dir();
            return Ok(Self::Local { path, is_dir });
        };
        let url = url::Url::parse(spec).map_err(|e| Error::BadUrl {
            spec: spec.into(),
            why: e.to_string(),
        })?;
        let is_dir = spec.ends_with('/');
        let retry_config = object_store::RetryConfig {
            max_retries: retry.max_retries,
            retry_timeout: retry.retry_timeout,
            ..Default::default()
        };
        let client = object_store::ClientOptions::new().with_timeout(retry.request_timeout);
        let config_err = |scheme: &'static str, prefix: &str, why: String| Error::Config {
            spec: spec.to_string(),
            scheme,
            why,
            tried: env.names(prefix),
        };
        let key = url.path().trim_start_matches('/');
        let (store, key): (Arc<dyn ObjectStore>, &str) = match scheme {
            "file" => {
                let path = PathBuf::from(url.path());
                let is_dir = is_dir || path.is_dir();
                return Ok(Self::Local { path, is_dir });
            }
            "s3" | "s3a" => {
                let mut builder = object_store::aws::AmazonS3Builder::new();
                for (k, v) in env.with_prefix("AWS_") {
                    if let Ok(config_key) = k.to_ascii_lowercase().parse() {
                        builder = builder.with_config(config_key, v);
                    }
                }
                // Every part carries its sha256 for the server to check (S3 rejects a part that
                // arrives different), unless the environment chose another algorithm.
                if !env.has("AWS_CHECKSUM_ALGORITHM") {
                    builder = builder.with_checksum_algorithm(object_store::aws::Checksum::SHA256);
                }
                if !env.has("AWS_ACCESS_KEY_ID")
                    && !env.has("AWS_WEB_IDENTITY_TOKEN_FILE")
                    && !env.has("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI")
                    && !env.has("AWS_CONTAINER_CREDENTIALS_FULL_URI")
                {
                    tracing::info!(
                        "no AWS access key or web identity in the environment: using instance credentials"
                    );
                }
                let endpoint_is_http = env
                    .0
                    .get("AWS_ENDPOINT")
                    .or(env.0.get("AWS_ENDPOINT_URL"))
                    .is_some_and(|e| e.starts_with("http://"));
                let store = builder
                    .with_url(spec)
                    .with_retry(retry_config)
                    .with_client_options(client.with_allow_http(endpoint_is_http))
                    .build()
                    .map_err(|e| config_err("s3", "AWS_", e.to_string()))?;
                (Arc::new(store), key)
            }
            "gs" => {
                let mut builder = object_store::gcp::GoogleCloudStorageBuilder::new();
                for (k, v) in env.with_prefix("GOOGLE_") {
                    if let Ok(config_key) = k.to_ascii_lowercase().parse() {
                        builder = builder.with_config(config_key, v);
                    }
                }
                if let Some(path) = env.0.get("SERVICE_ACCOUNT")
                    && !env.has("GOOGLE_SERVICE_ACCOUNT")
                    && !env.has("GOOGLE_SERVICE_ACCOUNT_PATH")
                {
                    builder = builder.with_service_account_path(path);
                }
                // A GCS emulator or private endpoint on plain HTTP is named either by
                // GOOGLE_BASE_URL or by `gcs_base_url` in the service-account file.
                let endpoint_is_http = gcs_base_url(env).is_some_and(|u| u.starts_with("http://"));
                let store = builder
                    .with_url(spec)
                    .with_retry(retry_config)
                    .with_client_options(client.with_allow_http(endpoint_is_http))
                    .build()
                    .map_err(|e| config_err("gcs", "GOOGLE_", e.to_string()))?;
                (Arc::new(store), key)
            }
            "az" | "azure" | "abfs" | "abfss" | "adl" => {
                let mut builder = object_store::azure::MicrosoftAzureBuilder::new();
                for (k, v) in env.with_prefix("AZURE_") {
                    if let Ok(config_key) = k.to_ascii_lowercase().parse() {
                        builder = builder.with_config(config_key, v);
                    }
                }
                let endpoint_is_http = env
                    .0
                    .get("AZURE_STORAGE_ENDPOINT")
                    .or(env.0.get("AZURE_ENDPOINT"))
                    .is_some_and(|e| e.starts_with("http://"));
                let store = builder
                    .with_url(spec)
                    .with_retry(retry_config)
                    .with_client_options(client.with_allow_http(endpoint_is_http))
                    .build()
                    .map_err(|e| config_err("azure", "AZURE_", e.to_string()))?;
                // For az://container/path the container is the host; the key is the URL path.
                (Arc::new(store), key)
            }
            other => {
                return Err(Error::UnknownScheme {
                    spec: spec.into(),
                    scheme: other.into(),
                });
            }
        };
        let prefix = ObjectPath::parse(key.trim_end_matches('/')).map_err(|e| Error::BadUrl {
            spec: spec.into(),
            why: e.to_string(),
        })?;
        Ok(Self::Store {
            url: spec.to_string(),
            store,
            prefix,
            is_dir: is_dir || key.is_empty(),
        })
    }

    /// Where an artifact named `file_name` goes, as a path or URL for messages and manifests.
    pub fn location_of(&self, file_name: &str) -> String {
        match self {
            Self::Local { path, is_dir: true } => path.join(file_name).display().to_string(),
            Self::Local {
                path,
                is_dir: false,
            } => path.display().to_string(),
            Self::Store {
                url, is_dir: true, ..
            } => format!("{}/{file_name}", url.trim_end_matches('/')),
            Self::Store {
                url, is_dir: false, ..
            } => url.clone(),
        }
    }

    /// True for object stores (the artifact leaves this machine).
    pub fn is_remote(&self) -> bool {
        matches!(self, Self::Store { .. })
    }

    fn object_path(&self, file_name: &str) -> Option<ObjectPath> {
        match self {
            Self::Store {
                prefix,
                is_dir: true,
                ..
            } => Some(prefix.clone().join(file_name)),
            Self::Store {
                prefix,
                is_dir: false,
                ..
            } => Some(prefix.clone()),
            Self::Local { .. } => None,
        }
    }
}

/// A unique artifact name: `<kind>-<target>-<UTC timestamp>.<extension>`, with the target made safe
/// for file and object names (`pod/web-0` → `pod-web-0`).
pub fn artifact_name(kind: &str, target: &str, at: jiff::Timestamp, extension: &str) -> String {
    let safe: String = target
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') {
                c
            } else {
                '-'
            }
        })
        .collect();
    let stamp = at.strftime("%Y%m%dT%H%M%SZ");
    format!(
        "{kind}-{}-{stamp}.{}",
        safe.trim_matches('-'),
        extension.trim_start_matches('.')
    )
}

/// Tuning for one delivery.
#[derive(Clone)]
pub struct UploadOptions {
    /// Size of each multipart part (16–64 MiB is right for gigabyte dumps: S3 allows 10,000 parts).
    pub chunk_size: usize,
    /// Parts in flight at once; memory use is about `chunk_size × (max_concurrency + 1)`.
    pub max_concurrency: usize,
    /// Whole-upload attempts by [`deliver`] before keeping a local copy.
    pub attempts: u32,
    /// First backoff between attempts (doubles each time).
    pub backoff: Duration,
    /// Called with the bytes sent so far.
    pub progress: Option<Arc<dyn Fn(u64) + Send + Sync>>,
}

impl std::fmt::Debug for UploadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UploadOptions")
            .field("chunk_size", &self.chunk_size)
            .field("max_concurrency", &self.max_concurrency)
            .field("attempts", &self.attempts)
            .finish()
    }
}

impl Default for UploadOptions {
    fn default() -> Self {
        Self {
            chunk_size: 16 << 20,
            max_concurrency: 2,
            attempts: 3,
            backoff: Duration::from_secs(1),
            progress: None,
        }
    }
}

/// What was written, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub location: String,
    pub size_bytes: u64,
    pub sha256: String,
}

/// Stream `reader` to `dest` under `file_name`. On failure nothing is left claiming success: the
/// multipart upload is aborted, or the temporary local file deleted.
pub async fn write_stream<R: AsyncRead + Unpin>(
    dest: &Destination,
    file_name: &str,
    reader: R,
    options: &UploadOptions,
) -> Result<Receipt> {
    match dest {
        Destination::Local { path, is_dir } => {
            let final_path = if *is_dir {
                path.join(file_name)
            } else {
                path.clone()
            };
            write_local(&final_path, reader, options).await
        }
        Destination::Store { store, .. } => {
            let location = dest.location_of(file_name);
            let object = dest
                .object_path(file_name)
                .expect("store destinations have object paths");
            write_object(store.as_ref(), &object, &location, reader, options).await
        }
    }
}

async fn write_local<R: AsyncRead + Unpin>(
    final_path: &Path,
    mut reader: R,
    options: &UploadOptions,
) -> Result<Receipt> {
    let shown = final_path.display().to_string();
    if final_path.exists() {
        return Err(Error::AlreadyExists { location: shown });
    }
    let dir = match final_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    tokio::fs::create_dir_all(&dir)
        .await
        .map_err(|source| Error::Io {
            action: "creating directory",
            path: dir.display().to_string(),
            source,
        })?;
    let temp = tempfile::Builder::new()
        .prefix(".triage-")
        .suffix(".partial")
        .tempfile_in(&dir)
        .map_err(|source| Error::Io {
            action: "creating a temporary file in",
            path: dir.display().to_string(),
            source,
        })?;
    let (std_file, temp_path) = temp.into_parts();
    let mut file = tokio::fs::File::from_std(std_file);
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = reader
            .read(&mut buf)
            .await
            .map_err(|source| Error::Source {
                location: shown.clone(),
                source,
            })?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        file.write_all(&buf[..n])
            .await
            .map_err(|source| Error::Io {
                action: "writing",
                path: shown.clone(),
                source,
            })?;
        total += n as u64;
        if let Some(progress) = &options.progress {
            progress(total);
        }
    }
    file.flush().await.map_err(|source| Error::Io {
        action: "flushing",
        path: shown.clone(),
        source,
    })?;
    file.sync_all().await.map_err(|source| Error::Io {
        action: "syncing",
        path: shown.clone(),
        source,
    })?;
    drop(file);
    temp_path
        .persist_noclobber(final_path)
        .map_err(|e| Error::Io {
            action: "renaming the finished file to",
            path: shown.clone(),
            source: e.error,
        })?;
    Ok(Receipt {
        location: shown,
        size_bytes: total,
        sha256: hex::encode(hasher.finalize()),
    })
}

fn upload_hint(err: &object_store::Error) -> String {
    let text = err.to_string();
    if text.contains("NoSuchBucket")
        || text.contains("bucket does not exist")
        || text.contains("ContainerNotFound")
    {
        " — the bucket or container does not exist: create it or fix the URL".into()
    } else if text.contains("InvalidAccessKeyId")
        || text.contains("SignatureDoesNotMatch")
        || text.contains("AuthenticationFailed")
        || text.contains("403")
    {
        " — the credentials were refused: check the AWS_/GOOGLE_/AZURE_ variables or the identity in use".into()
    } else {
        String::new()
    }
}

async fn write_object<R: AsyncRead + Unpin>(
    store: &dyn ObjectStore,
    object: &ObjectPath,
    location: &str,
    mut reader: R,
    options: &UploadOptions,
) -> Result<Receipt> {
    let upload_err = |source: object_store::Error| Error::Upload {
        location: location.to_string(),
        hint: upload_hint(&source),
        source,
    };
    match store.head(object).await {
        Ok(_) => {
            return Err(Error::AlreadyExists {
                location: location.to_string(),
            });
        }
        Err(object_store::Error::NotFound { .. }) => {}
        Err(e) => return Err(upload_err(e)),
    }
    let upload = store.put_multipart(object).await.map_err(upload_err)?;
    let mut writer = WriteMultipart::new_with_chunk_size(upload, options.chunk_size.max(5 << 20));
    let mut hasher = Sha256::new();
    let mut total = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = match reader.read(&mut buf).await {
            Ok(n) => n,
            Err(source) => {
                let _ = writer.abort().await;
                return Err(Error::Source {
                    location: location.to_string(),
                    source,
                });
            }
        };
        if n == 0 {
            break;
        }
        if let Err(e) = writer
            .wait_for_capacity(options.max_concurrency.max(1))
            .await
        {
            let _ = writer.abort().await;
            return Err(upload_err(e));
        }
        hasher.update(&buf[..n]);
        writer.write(&buf[..n]);
        total += n as u64;
        if let Some(progress) = &options.progress {
            progress(total);
        }
    }
    // `finish` aborts the multipart upload itself when a part or the completion fails.
    writer.finish().await.map_err(upload_err)?;
    Ok(Receipt {
        location: location.to_string(),
        size_bytes: total,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// The outcome of [`deliver`].
#[derive(Debug)]
pub enum Delivery {
    /// The artifact is at its destination.
    Delivered(Receipt),
    /// Every upload attempt failed; a complete copy was written locally instead.
    KeptLocally {
        receipt: Receipt,
        upload_error: String,
        attempts: u32,
    },
}

/// Deliver an artifact that can be read again from the start (`open` is called once per attempt):
/// retry a failed upload with doubling backoff, then keep a complete local copy in `fallback_dir`
/// and report where. Fails only when the local copy cannot be written either.
pub async fn deliver<F, Fut, R>(
    dest: &Destination,
    file_name: &str,
    mut open: F,
    options: &UploadOptions,
    fallback_dir: &Path,
) -> Result<Delivery>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = std::io::Result<R>>,
    R: AsyncRead + Unpin,
{
    let attempts = options.attempts.max(1);
    let mut last_error = None;
    let mut backoff = options.backoff;
    for attempt in 1..=attempts {
        let reader = open().await.map_err(|source| Error::Source {
            location: dest.location_of(file_name),
            source,
        })?;
        match write_stream(dest, file_name, reader, options).await {
            Ok(receipt) => return Ok(Delivery::Delivered(receipt)),
            // Retrying cannot help these.
            Err(e @ (Error::AlreadyExists { .. } | Error::Source { .. })) => return Err(e),
            Err(e) => {
                tracing::warn!(attempt, attempts, error = %e, "upload failed");
                last_error = Some(e);
                if attempt < attempts {
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        }
    }
    let upload_error = last_error.map(|e| e.to_string()).unwrap_or_default();
    if !dest.is_remote() {
        return Err(Error::Io {
            action: "writing",
            path: dest.location_of(file_name),
            source: std::io::Error::other(upload_error),
        });
    }
    let local = Destination::Local {
        path: fallback_dir.to_path_buf(),
        is_dir: true,
    };
    let reader = open().await.map_err(|source| Error::Source {
        location: local.location_of(file_name),
        source,
    })?;
    let receipt = write_stream(
        &local,
        file_name,
        reader,
        &UploadOptions {
            progress: None,
            ..options.clone()
        },
    )
    .await?;
    Ok(Delivery::KeptLocally {
        receipt,
        upload_error,
        attempts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn artifact_names_are_safe_and_unique_per_second() {
        let at: jiff::Timestamp = "2026-11-23T10:11:12Z".parse().unwrap();
        assert_eq!(
            artifact_name("heap", "pod/web-0", at, "hprof.zst"),
            "heap-pod-web-0-20261123T101112Z.hprof.zst"
        );
        assert_eq!(
            artifact_name("triage", "pid:12", at, ".tar.zst"),
            "triage-pid-12-20261123T101112Z.tar.zst"
        );
    }

    #[test]
    fn parses_local_and_rejects_unknown() {
        let env = Env::default();
        let d = Destination::parse("/tmp/", &env, RetrySettings::default()).unwrap();
        assert!(matches!(d, Destination::Local { is_dir: true, .. }));
        let d = Destination::parse("out.hprof", &env, RetrySettings::default()).unwrap();
        assert_eq!(d.location_of("x"), "out.hprof");
        let d =
            Destination::parse("file:///var/tmp/dumps/", &env, RetrySettings::default()).unwrap();
        assert_eq!(d.location_of("a.bin"), "/var/tmp/dumps/a.bin");
        let err = Destination::parse("ftp://host/x", &env, RetrySettings::default()).unwrap_err();
        assert!(
            err.to_string().contains("unknown URL scheme \"ftp\""),
            "{err}"
        );
    }

    #[test]
    fn env_keeps_only_store_variables_and_names_never_values() {
        let env = Env::from_pairs([
            ("AWS_ACCESS_KEY_ID".to_string(), "AKIAEXAMPLE".to_string()),
            ("HOME".to_string(), "/root".to_string()),
        ]);
        assert_eq!(env.names("AWS_"), "AWS_ACCESS_KEY_ID");
        assert_eq!(env.names("GOOGLE_"), "no GOOGLE_* variable is set");
        assert!(!env.has("HOME"));
    }

    #[test]
    fn s3_destination_location() {
        let env = Env::from_pairs([
            ("AWS_ACCESS_KEY_ID".to_string(), "k".to_string()),
            ("AWS_SECRET_ACCESS_KEY".to_string(), "s".to_string()),
            ("AWS_REGION".to_string(), "us-east-1".to_string()),
        ]);
        let d = Destination::parse("s3://bucket/heaps/", &env, RetrySettings::default()).unwrap();
        assert!(d.is_remote());
        assert_eq!(
            d.location_of("h.hprof.zst"),
            "s3://bucket/heaps/h.hprof.zst"
        );
        assert_eq!(
            d.object_path("h.hprof.zst").unwrap().as_ref(),
            "heaps/h.hprof.zst"
        );
        let exact =
            Destination::parse("s3://bucket/a/b.bin", &env, RetrySettings::default()).unwrap();
        assert_eq!(exact.object_path("ignored").unwrap().as_ref(), "a/b.bin");
    }
}
