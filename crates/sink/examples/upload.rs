//! Upload one local file to a destination the way every triage upload goes (`write_stream` with
//! the default [`sink::UploadOptions`]: 16 MiB multipart parts, two in flight, on S3 each part
//! with its sha256 for the server to check, and the sha256 of the whole computed on the way). Used
//! by `bench/sink/run.sh` to compare with `aws s3 cp` on the same file and server.
//!
//! Usage: `upload FILE URL [PART_MIB IN_FLIGHT]` (credentials and endpoint from the
//! AWS_/GOOGLE_/AZURE_ environment; the part size and parts in flight default to triage's).

use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (file, url, tuning) = match args.as_slice() {
        [_, file, url] => (file, url, None),
        [_, file, url, part_mib, in_flight] => (
            file,
            url,
            Some((part_mib.parse::<usize>()?, in_flight.parse::<usize>()?)),
        ),
        _ => return Err("usage: upload FILE URL [PART_MIB IN_FLIGHT]".into()),
    };
    let env = sink::Env::from_process();
    let dest = sink::Destination::parse(url, &env, sink::RetrySettings::default())?;
    let name = std::path::Path::new(file)
        .file_name()
        .ok_or("FILE has no name")?
        .to_string_lossy()
        .into_owned();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let started = Instant::now();
    let receipt = rt.block_on(async {
        let reader = tokio::fs::File::open(file).await?;
        let mut options = sink::UploadOptions::default();
        if let Some((part_mib, in_flight)) = tuning {
            options.chunk_size = part_mib << 20;
            options.max_concurrency = in_flight;
        }
        sink::write_stream(&dest, &name, reader, &options)
            .await
            .map_err(Box::<dyn std::error::Error>::from)
    })?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} {} bytes sha256 {} in {secs:.2} s ({:.0} MiB/s)",
        receipt.location,
        receipt.size_bytes,
        receipt.sha256,
        receipt.size_bytes as f64 / secs / (1 << 20) as f64
    );
    Ok(())
}
