//! Uploads against real object-store servers started by the tests: S3 through moto's server
//! (PyPI `moto[server]`) and Azure Blob through azurite (npm `azurite`). Nothing is mocked.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use sha2::Digest;
use sink::{Delivery, Destination, Env, RetrySettings, UploadOptions, deliver, write_stream};
use testkit::servers::{http, http_request, start_azurite, start_moto};

fn s3_env(port: u16) -> Env {
    Env::from_pairs(testkit::servers::s3_env(port))
}

fn quick_retry() -> RetrySettings {
    RetrySettings {
        max_retries: 1,
        retry_timeout: Duration::from_secs(3),
        request_timeout: Duration::from_secs(30),
    }
}

use testkit::pattern_bytes as pattern;

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

#[test]
fn s3_multipart_upload_roundtrip() {
    let Some(moto) = start_moto("s3_multipart_upload_roundtrip") else {
        return;
    };
    assert_eq!(http(moto.port, "PUT", "/dumps").0, 200);
    let dest = Destination::parse("s3://dumps/heaps/", &s3_env(moto.port), quick_retry()).unwrap();
    let data = pattern(23 << 20, 7);
    let options = UploadOptions {
        chunk_size: 5 << 20,
        ..Default::default()
    };
    let receipt = rt()
        .block_on(write_stream(&dest, "heap-a.hprof", &data[..], &options))
        .unwrap();
    assert_eq!(receipt.location, "s3://dumps/heaps/heap-a.hprof");
    assert_eq!(receipt.size_bytes, data.len() as u64);
    assert_eq!(receipt.sha256, hex::encode(sha2::Sha256::digest(&data)));
    // Read it back through the server itself.
    let (status, body) = http(moto.port, "GET", "/dumps/heaps/heap-a.hprof");
    assert_eq!(status, 200);
    assert_eq!(body.len(), data.len());
    assert!(body == data, "the object's bytes differ from what was sent");
    // Every part went with its sha256 for the server to check: the object's composite checksum
    // is the sha256 of the parts' sha256s, computed here from the data.
    let (status, head, _) = http_request(
        moto.port,
        "HEAD",
        "/dumps/heaps/heap-a.hprof",
        &[("x-amz-checksum-mode", "ENABLED")],
    );
    assert_eq!(status, 200, "{head}");
    let mut parts = sha2::Sha256::new();
    for part in data.chunks(5 << 20) {
        parts.update(sha2::Sha256::digest(part));
    }
    use base64::Engine;
    let composite = base64::engine::general_purpose::STANDARD.encode(parts.finalize());
    assert!(
        head.to_ascii_lowercase().contains(&format!(
            "x-amz-checksum-sha256: {}",
            composite.to_ascii_lowercase()
        )),
        "expected composite sha256 {composite} in\n{head}"
    );
    // Never overwrite.
    let again = rt()
        .block_on(write_stream(&dest, "heap-a.hprof", &b"x"[..], &options))
        .unwrap_err();
    assert!(again.to_string().contains("already exists"), "{again}");
}

#[test]
fn s3_missing_bucket_is_a_clear_error() {
    let Some(moto) = start_moto("s3_missing_bucket_is_a_clear_error") else {
        return;
    };
    let dest =
        Destination::parse("s3://no-such-bucket/x/", &s3_env(moto.port), quick_retry()).unwrap();
    let err = rt()
        .block_on(write_stream(
            &dest,
            "a.bin",
            &b"hello"[..],
            &UploadOptions::default(),
        ))
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("s3://no-such-bucket/x/a.bin"), "{text}");
    assert!(
        text.contains("does not exist") || text.contains("NoSuchBucket"),
        "{text}"
    );
}

/// A reader that produces `total` bytes slowly, so a server can be stopped mid-upload.
struct Slow {
    data: Vec<u8>,
    pos: usize,
    step: usize,
}

impl tokio::io::AsyncRead for Slow {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        let end = (self.pos + self.step)
            .min(self.data.len())
            .min(self.pos + buf.remaining());
        let chunk = self.data[self.pos..end].to_vec();
        buf.put_slice(&chunk);
        self.pos = end;
        std::thread::sleep(Duration::from_millis(5));
        std::task::Poll::Ready(Ok(()))
    }
}

#[test]
fn interrupted_upload_retries_then_keeps_a_local_copy() {
    let Some(mut moto) = start_moto("interrupted_upload_retries_then_keeps_a_local_copy") else {
        return;
    };
    assert_eq!(http(moto.port, "PUT", "/dumps").0, 200);
    let dest = Destination::parse("s3://dumps/", &s3_env(moto.port), quick_retry()).unwrap();
    let data = pattern(30 << 20, 11);
    let fallback = tempfile::tempdir().unwrap();
    let options = UploadOptions {
        chunk_size: 5 << 20,
        attempts: 2,
        backoff: Duration::from_millis(200),
        ..Default::default()
    };
    // Stop the server shortly after the upload starts.
    let pid = moto.child.id();
    let killer = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(1000));
        // SAFETY: plain kill(2) on a child we started.
        unsafe { libc::kill(pid as i32, libc::SIGKILL) };
    });
    let data_for_open = data.clone();
    let outcome = rt()
        .block_on(deliver(
            &dest,
            "heap-b.hprof",
            || {
                let d = data_for_open.clone();
                async move {
                    Ok(Slow {
                        data: d,
                        pos: 0,
                        step: 64 << 10,
                    })
                }
            },
            &options,
            fallback.path(),
        ))
        .unwrap();
    killer.join().unwrap();
    let _ = moto.child.wait();
    match outcome {
        Delivery::Delivered(r) => {
            panic!("an upload to a stopped server was reported as delivered: {r:?}")
        }
        Delivery::KeptLocally {
            receipt,
            upload_error,
            attempts,
        } => {
            assert_eq!(attempts, 2);
            assert!(!upload_error.is_empty());
            let local = std::fs::read(fallback.path().join("heap-b.hprof")).unwrap();
            assert_eq!(local.len(), data.len());
            assert!(local == data);
            assert_eq!(receipt.sha256, hex::encode(sha2::Sha256::digest(&data)));
        }
    }
}

#[test]
fn azure_blob_upload_roundtrip() {
    let Some(azurite) = start_azurite("azure_blob_upload_roundtrip") else {
        return;
    };
    // Well-known development account of the Azure storage emulator.
    let env = Env::from_pairs(
        [
            ("AZURE_STORAGE_ACCOUNT_NAME", "devstoreaccount1"),
            (
                "AZURE_STORAGE_ACCOUNT_KEY",
                "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
            ),
            ("AZURE_STORAGE_ENDPOINT", &format!("http://127.0.0.1:{}/devstoreaccount1", azurite.port)),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    // Before the container exists the upload must fail with a message naming the location.
    let dest = Destination::parse("az://dumps/heaps/", &env, quick_retry()).unwrap();
    let missing = rt()
        .block_on(write_stream(
            &dest,
            "x.bin",
            &b"x"[..],
            &UploadOptions::default(),
        ))
        .unwrap_err();
    assert!(
        missing.to_string().contains("az://dumps/heaps/x.bin"),
        "{missing}"
    );
    create_azure_container(azurite.port, "dumps");
    let data = pattern(12 << 20, 3);
    let options = UploadOptions {
        chunk_size: 5 << 20,
        ..Default::default()
    };
    let receipt = rt()
        .block_on(write_stream(&dest, "heap-c.hprof", &data[..], &options))
        .unwrap();
    assert_eq!(receipt.size_bytes, data.len() as u64);
    assert_eq!(receipt.location, "az://dumps/heaps/heap-c.hprof");
    // Read back with object_store's own client, independent of the upload path.
    let (store, path) = match &dest {
        Destination::Store { store, prefix, .. } => {
            (store.clone(), prefix.clone().join("heap-c.hprof"))
        }
        _ => unreachable!(),
    };
    let back = rt().block_on(async move {
        use object_store::ObjectStoreExt;
        store.get(&path).await.unwrap().bytes().await.unwrap()
    });
    assert!(back[..] == data[..]);
}

/// `gs://` to an endpoint on plain HTTP (an emulator, a private gateway). No GCS-compatible server
/// that takes the XML multipart API can be installed here (moto rejects GCS's requests before
/// routing them), so a one-shot TCP listener stands in as the endpoint: what this checks is
/// triage's side of `gs://`, that the request leaves for the configured http:// endpoint with the
/// bucket and the percent-encoded key under the prefix, and that the server's refusal comes back
/// as an error naming the object, the status and what to check. Without `allow_http` the client
/// refused to send at all, and the listener reports that no request came.
#[test]
fn gcs_request_goes_to_a_plain_http_endpoint() {
    let dir = tempfile::tempdir().unwrap();
    for via in ["service-account file", "GOOGLE_BASE_URL"] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = std::thread::spawn(move || {
            // Bounded wait: a client that never sends must fail the test, not hang it.
            listener.set_nonblocking(true).unwrap();
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            let mut conn = loop {
                match listener.accept() {
                    Ok((conn, _)) => break conn,
                    Err(_) if std::time::Instant::now() < deadline => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    Err(e) => return format!("no request reached the endpoint in 20 s ({e})"),
                }
            };
            conn.set_nonblocking(false).unwrap();
            conn.set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap() == 1 {
                head.push(byte[0]);
            }
            let body = "<Error><Code>AccessDenied</Code><Message>denied by the test endpoint</Message></Error>";
            let _ = write!(
                conn,
                "HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            String::from_utf8_lossy(&head).into_owned()
        });
        let account = dir.path().join("service-account.json");
        let base_in_file = if via == "GOOGLE_BASE_URL" {
            String::new()
        } else {
            format!(r#""gcs_base_url": "http://127.0.0.1:{port}","#)
        };
        std::fs::write(
            &account,
            format!(
                r#"{{{base_in_file} "disable_oauth": true,
                    "client_email": "", "private_key": "", "private_key_id": ""}}"#
            ),
        )
        .unwrap();
        let mut pairs = vec![(
            "GOOGLE_SERVICE_ACCOUNT".to_string(),
            account.display().to_string(),
        )];
        if via == "GOOGLE_BASE_URL" {
            pairs.push((
                "GOOGLE_BASE_URL".to_string(),
                format!("http://127.0.0.1:{port}"),
            ));
        }
        let dest = Destination::parse("gs://gdumps/heaps/", &Env::from_pairs(pairs), quick_retry())
            .unwrap();
        let err = rt()
            .block_on(write_stream(
                &dest,
                "heap-g.hprof",
                &pattern(1 << 20, 5)[..],
                &UploadOptions::default(),
            ))
            .unwrap_err()
            .to_string();
        let head = seen.join().unwrap();
        let request_line = head.lines().next().unwrap_or_default();
        assert!(
            request_line.contains(" /gdumps/heaps%2Fheap%2Dg%2Ehprof"),
            "{via}: the endpoint got {request_line:?}"
        );
        assert!(
            err.contains("gs://gdumps/heaps/heap-g.hprof")
                && err.contains("403")
                && err.contains("credentials were refused"),
            "{via}: {err}"
        );
    }
}

/// Create a container with a Shared Key signed request, as the Azure REST API requires.
fn create_azure_container(port: u16, name: &str) {
    use base64::Engine;
    use hmac::Mac;
    let b64 = base64::engine::general_purpose::STANDARD;
    let account = "devstoreaccount1";
    let key = b64.decode(
        "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==",
    );
    let date = jiff::Timestamp::now()
        .strftime("%a, %d %b %Y %H:%M:%S GMT")
        .to_string();
    let version = "2021-08-06";
    let string_to_sign = format!(
        "PUT\n\n\n\n\n\n\n\n\n\n\n\nx-ms-date:{date}\nx-ms-version:{version}\n/{account}/{account}/{name}\nrestype:container"
    );
    let key = key.expect("the emulator key is valid base64");
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(string_to_sign.as_bytes());
    let signature = b64.encode(mac.finalize().into_bytes());
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "PUT /{account}/{name}?restype=container HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nx-ms-date: {date}\r\nx-ms-version: {version}\r\nAuthorization: SharedKey {account}:{signature}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(
        response.starts_with("HTTP/1.1 201"),
        "creating the container failed: {response}"
    );
}
