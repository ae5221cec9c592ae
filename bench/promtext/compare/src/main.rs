//! `promtext-compare time FILE RUNS`: parse FILE with promtext (family model, and bare streaming
//! events) and with prometheus-parse 0.2.5, reporting best and median wall time of RUNS runs.
//! `promtext-compare check FILE`: show what each parser makes of every sample line, to show
//! where prometheus-parse loses or mangles samples.

use std::time::Instant;

use promtext::{Event, Format, Limits, Parser};

/// CPU seconds (user + system) this process has used, all threads, from /proc/self/stat.
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").expect("reading /proc/self/stat");
    let after_name = &stat[stat.rfind(')').expect("a comm field") + 2..];
    let fields: Vec<&str> = after_name.split(' ').collect();
    // Fields 14 and 15 of proc(5), utime and stime, in clock ticks (100 per second on Linux).
    let ticks: f64 =
        fields[11].parse::<f64>().expect("utime") + fields[12].parse::<f64>().expect("stime");
    ticks / 100.0
}

fn timed<T>(
    runs: usize,
    mut parse: impl FnMut() -> T,
    describe: impl Fn(&T) -> String,
) -> (f64, f64, f64, String) {
    let mut times = Vec::new();
    let mut cpu = Vec::new();
    let mut last = String::new();
    for _ in 0..runs {
        let (start, cpu_start) = (Instant::now(), cpu_seconds());
        let result = parse();
        times.push(start.elapsed().as_secs_f64());
        cpu.push(cpu_seconds() - cpu_start);
        last = describe(&result);
        drop(result);
    }
    times.sort_by(f64::total_cmp);
    cpu.sort_by(f64::total_cmp);
    (times[0], times[times.len() / 2], cpu[cpu.len() / 2], last)
}

fn report(name: &str, bytes: usize, (best, median, cpu, what): (f64, f64, f64, String)) {
    let mb = bytes as f64 / 1e6;
    println!(
        "{name:<38} wall {best:7.3} s best {median:7.3} s median | CPU {cpu:7.2} s median {:7.1} MB/s per CPU-second  ({what})",
        mb / cpu
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (mode, file) = (args[1].as_str(), &args[2]);
    let data = std::fs::read(file).expect("reading the input");
    let text = String::from_utf8(data.clone()).expect("prometheus-parse needs UTF-8");
    match mode {
        "time" => {
            let runs: usize = args[3].parse().expect("RUNS");
            let limits = Limits {
                max_samples: usize::MAX,
                ..Limits::default()
            };
            report(
                "promtext parse_families",
                data.len(),
                timed(
                    runs,
                    || promtext::parse_families(&data, Format::Text, limits).expect("valid input"),
                    |f| {
                        format!(
                            "{} families, {} series",
                            f.len(),
                            f.iter().map(|f| f.metrics.len()).sum::<usize>()
                        )
                    },
                ),
            );
            report(
                "promtext streaming events",
                data.len(),
                timed(
                    runs,
                    || {
                        let mut parser = Parser::new(&data, Format::Text, limits);
                        let (mut samples, mut labels) = (0usize, 0usize);
                        while let Some(event) = parser.next_event().expect("valid input") {
                            if let Event::Sample(sample) = event {
                                samples += 1;
                                labels += sample.labels.len();
                            }
                        }
                        (samples, labels)
                    },
                    |(samples, labels)| format!("{samples} samples, {labels} labels"),
                ),
            );
            report(
                "prometheus-parse 0.2.5 Scrape::parse",
                data.len(),
                timed(
                    runs,
                    || {
                        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
                            .expect("prometheus-parse accepts it")
                    },
                    |s| format!("{} samples", s.samples.len()),
                ),
            );
        }
        "check" => {
            let families = promtext::parse_families(&data, Format::Text, Limits::default())
                .expect("valid input");
            let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
                .expect("prometheus-parse accepts it");
            let family = args.get(3).map(String::as_str).unwrap_or("tricky_total");
            println!("promtext, family {family}:");
            for family in families.iter().filter(|f| f.name == family) {
                for metric in &family.metrics {
                    let labels: Vec<String> = metric
                        .labels
                        .iter()
                        .map(|l| format!("{}={:?}", l.name, l.value))
                        .collect();
                    println!("  {{{}}} {:?}", labels.join(", "), metric.value);
                }
            }
            println!("prometheus-parse 0.2.5, samples named {family}:");
            let mut found = 0;
            for sample in scrape.samples.iter().filter(|s| s.metric == family) {
                found += 1;
                let mut labels: Vec<String> = sample
                    .labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v:?}"))
                    .collect();
                labels.sort();
                println!("  {{{}}} {:?}", labels.join(", "), sample.value);
            }
            let expected: usize = families
                .iter()
                .filter(|f| f.name == family)
                .map(|f| f.metrics.len())
                .sum();
            println!("prometheus-parse kept {found} of {expected} samples");
        }
        other => panic!("unknown mode {other}"),
    }
}
