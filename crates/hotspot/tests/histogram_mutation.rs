//! Bounded mutation testing of the text parsers on stable Rust (the `cargo fuzz` targets under
//! `fuzz/` do the same unbounded on nightly): real JVM output, randomly mutated, must never make
//! the parsers panic or exceed their limits.

use hotspot::heapdump::heap_used_bytes;
use hotspot::histogram::{Limits, parse_histogram};
use hotspot::protocol::{is_exception_line, parse_result_code};

const HISTOGRAM: &str = " num     #instances         #bytes  class name (module)
-------------------------------------------------------
   1:          7197         332464  [B (java.base@17.0.15)
   2:          1425         175656  java.lang.Class (java.base@17.0.15)
   3:          7115         170760  java.lang.String (java.base@17.0.15)
   4:           885          90952  [Ljava.lang.Object; (java.base@17.0.15)
  11:          1235          19760  Marker
 156:             1             40  [[Ljava.lang.invoke.LambdaForm$Name; (java.base@17.0.15)
 212:             1             16  Marker$$Lambda$1/0x00007f45f4000400
Total         26633        1275320
";

const HEAP_INFO: &str =
    " garbage-first heap   total 397312K, used 5330K [0x0000000687400000, 0x0000000800000000)
  region size 4096K, 1 young (4096K), 0 survivors (0K)
 Metaspace       used 73K, committed 320K, reserved 1114112K
";

/// xorshift64*: deterministic, no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

fn mutate(rng: &mut Rng, input: &[u8]) -> Vec<u8> {
    let mut out = input.to_vec();
    for _ in 0..1 + rng.below(8) {
        let at = rng.below(out.len() + 1);
        match rng.below(5) {
            0 if !out.is_empty() => {
                let i = at.min(out.len() - 1);
                out[i] = rng.next() as u8;
            }
            1 => out.insert(at, b"0123456789:[L; ()\n\t-"[rng.below(20)]),
            2 if at < out.len() => {
                let end = (at + rng.below(40)).min(out.len());
                out.drain(at..end);
            }
            3 => {
                let digits = "9".repeat(1 + rng.below(40));
                out.splice(at..at, digits.bytes());
            }
            _ => {
                let start = rng.below(out.len());
                let end = (start + rng.below(200)).min(out.len());
                let chunk = out[start..end].to_vec();
                out.splice(at..at, chunk);
            }
        }
    }
    out
}

#[test]
fn mutated_jvm_output_never_panics_and_respects_limits() {
    let mut rng = Rng(0x5eed_1234_abcd_0001);
    let limits = Limits {
        max_classes: 5,
        max_name_len: 32,
    };
    for _ in 0..20_000 {
        let bytes = mutate(&mut rng, HISTOGRAM.as_bytes());
        let text = String::from_utf8_lossy(&bytes);
        let h = parse_histogram(&text, &limits);
        assert!(h.histogram.len() <= limits.max_classes);
        assert!(
            h.histogram
                .iter()
                .all(|e| e.class.len() <= limits.max_name_len && !e.class.is_empty())
        );

        let bytes = mutate(&mut rng, HEAP_INFO.as_bytes());
        let _ = heap_used_bytes(&String::from_utf8_lossy(&bytes));

        let line = mutate(&mut rng, b"-1");
        let _ = parse_result_code(&line);
        let _ = is_exception_line(&String::from_utf8_lossy(&mutate(
            &mut rng,
            b"java.lang.IllegalArgumentException: x",
        )));
    }
}
