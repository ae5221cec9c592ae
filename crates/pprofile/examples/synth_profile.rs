//! Write a synthetic gzip-compressed CPU profile with many deep, distinct stacks (used by
//! `bench/pprof/run.sh`): `synth_profile OUT.pb.gz [STACKS] [FUNCTIONS] [MAX_DEPTH]`.

#[path = "../tests/common/synth.rs"]
mod synth;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let out = args
        .next()
        .ok_or("usage: synth_profile OUT.pb.gz [STACKS] [FUNCTIONS] [MAX_DEPTH]")?;
    let stacks: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(400_000);
    let functions: usize = args
        .next()
        .map(|s| s.parse())
        .transpose()?
        .unwrap_or(20_000);
    let max_depth: usize = args.next().map(|s| s.parse()).transpose()?.unwrap_or(64);
    let raw = synth::synthetic_cpu_profile_raw(&synth::SynthSpec {
        functions,
        stacks,
        max_depth,
        seed: 42,
    });
    let gz = synth::gzip(&raw);
    std::fs::write(&out, &gz)?;
    eprintln!(
        "{out}: {} bytes uncompressed, {} bytes gzip-compressed",
        raw.len(),
        gz.len()
    );
    Ok(())
}
