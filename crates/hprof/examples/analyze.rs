//! `cargo run --release --example analyze -- [--only-histogram] DUMP`: the library passes that
//! `triage analyze` runs, without the CLI around them (used by bench/hprof/run.sh).

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let only_histogram = args.iter().any(|a| a == "--only-histogram");
    let path = std::path::PathBuf::from(
        args.iter()
            .rfind(|a| !a.starts_with("--"))
            .ok_or("usage: analyze [--only-histogram] DUMP")?,
    );
    let started = std::time::Instant::now();
    if only_histogram {
        let h = hprof::histogram_of_path(&path, &Default::default())?;
        for e in h.entries.iter().take(20) {
            println!("{:>12} {:>14} {}", e.instances, e.shallow_bytes, e.class);
        }
        println!(
            "objects {} bytes {} ({:.2} s)",
            h.total_instances,
            h.total_shallow_bytes,
            started.elapsed().as_secs_f64()
        );
        return Ok(());
    }
    let graph = hprof::load_graph(&path, &Default::default(), None)?;
    let built = started.elapsed().as_secs_f64();
    let doms = hprof::Dominators::compute(&graph)?;
    let dominated = started.elapsed().as_secs_f64();
    let report = hprof::report(&graph, &doms, &Default::default())?;
    for d in report.dominators.iter().take(10) {
        println!("{:>14} {:>10} {}", d.retained_bytes, d.object_id, d.class);
    }
    println!(
        "nodes {} references {} graph {built:.2} s, dominators {:.2} s, report {:.2} s",
        graph.node_count(),
        graph.edge_count(),
        dominated - built,
        started.elapsed().as_secs_f64() - dominated
    );
    Ok(())
}
