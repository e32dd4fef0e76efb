//! `cargo bench -p mandate-crypto --bench envelope`: the cost of opening a stored secret with a
//! cached data key (parse the text form + AES-256-GCM decrypt), and of sealing one.
//!
//! A plain harness (no criterion): each measurement runs a warm-up, then reports the median of
//! several batches in ns per operation. Results go to BENCHMARKS.md with the machine they ran on.

use std::hint::black_box;
use std::time::Instant;

use mandate_crypto::Key256;
use mandate_crypto::envelope::{self, DataKey, Envelope, RecordBinding};

const BATCHES: usize = 15;
const PER_BATCH: usize = 20_000;

fn median_ns(mut op: impl FnMut()) -> f64 {
    for _ in 0..PER_BATCH {
        op();
    }
    let mut batches: Vec<f64> = (0..BATCHES)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..PER_BATCH {
                op();
            }
            start.elapsed().as_nanos() as f64 / PER_BATCH as f64
        })
        .collect();
    batches.sort_by(|a, b| a.total_cmp(b));
    batches[BATCHES / 2]
}

fn main() {
    // `cargo test --benches` runs this with --bench absent: keep that quick.
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let binding = RecordBinding {
        kind: "connection.credentials",
        row_id: "0193a0c4-0000-7000-8000-000000000001",
        workspace_id: "0193a0c4-0000-7000-8000-0000000000aa",
    };
    let Ok(material) = Key256::generate() else {
        return;
    };
    let Ok(key) = DataKey::new("dek-bench", &material) else {
        return;
    };
    let secret = vec![0x5au8; 2048];
    let Ok(sealed) = envelope::seal(&key, binding, &secret) else {
        return;
    };
    let text = sealed.to_string();

    let open_text = median_ns(|| {
        let plain = envelope::open(&key, binding, black_box(&text));
        black_box(plain.map(|p| p.len()).unwrap_or(0));
    });
    let parse_only = median_ns(|| {
        black_box(Envelope::parse(black_box(&text)).is_ok());
    });
    let open_parsed = median_ns(|| {
        black_box(sealed.open(&key, binding).map(|p| p.len()).unwrap_or(0));
    });
    let seal_text = median_ns(|| {
        black_box(
            envelope::seal(&key, binding, black_box(&secret))
                .map(|e| e.to_string().len())
                .unwrap_or(0),
        );
    });
    println!("envelope/open 2 KiB (parse + decrypt, cached DEK): {open_text:8.0} ns/op");
    println!("envelope/parse 2 KiB text only:                    {parse_only:8.0} ns/op");
    println!("envelope/decrypt 2 KiB (already parsed):           {open_parsed:8.0} ns/op");
    println!("envelope/seal 2 KiB + text form:                   {seal_text:8.0} ns/op");
}
