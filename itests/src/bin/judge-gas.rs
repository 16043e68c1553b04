//! Measures the gas of every judge method on the devnet and prints the table kept in
//! `actors/judge/README.md`.
//!
//! `cargo run --release -p ozkcp-itests --bin judge-gas`

fn main() {
    eprintln!("judge-gas: not written yet");
}
