//! Writes `ROWS` generated settlement rows (the `medspace gen` settlements table) to `FILE`, the
//! input of the `scan_file` measurements, without building the whole `medspace` binary.
//!
//! `cargo run --release -p medspace-classify --example write_settlements ROWS FILE`
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::BufWriter;

use medspace_gen::{generate, GenOptions, Table};

fn main() {
    let mut args = std::env::args().skip(1);
    let rows: u64 = args
        .next()
        .expect("usage: write_settlements ROWS FILE")
        .parse()
        .expect("ROWS is a number");
    let path = args.next().expect("usage: write_settlements ROWS FILE");
    let mut out = BufWriter::with_capacity(1 << 20, std::fs::File::create(&path).unwrap());
    generate(
        &GenOptions {
            rows,
            seed: 7,
            table: Table::Settlements,
            persons: None,
        },
        &mut out,
        &mut |_| {},
    )
    .unwrap();
}
