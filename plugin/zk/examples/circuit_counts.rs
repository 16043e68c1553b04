//! Constraint counts per part for a few shapes (what `ozkcp circuit info` prints).
//!
//! `cargo run --release -p ozkcp-zk --example circuit_counts [-- 256 1024]`

use ozkcp_zk::{circuit_info, CircuitShape};

fn main() {
    let sizes: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let sizes = if sizes.is_empty() {
        vec![256, 1024]
    } else {
        sizes
    };
    for s in sizes {
        for link in [false, true] {
            let shape = CircuitShape::new(s, link).expect("shape");
            let info = circuit_info(shape).expect("synthesis");
            let domain = (info.constraints + info.public_inputs + 1).next_power_of_two();
            println!(
                "S = {s}, link = {link}: {} constraints ({:.1}/B), domain 2^{}, {:?}",
                info.constraints,
                info.constraints_per_byte,
                domain.trailing_zeros(),
                info.parts
            );
        }
    }
}
