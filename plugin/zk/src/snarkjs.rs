//! Export to snarkjs's Groth16 JSON (`verification_key.json`, `proof.json`, `public.json`), so
//! third-party tools (`snarkjs groth16 verify`) can check our proofs.
//!
//! Coordinates are decimal strings of the canonical integers; G1 points are `[x, y, "1"]`, G2
//! points `[[x.c0, x.c1], [y.c0, y.c1], ["1", "0"]]` with `x = c0 + c1·u` — snarkjs's JSON keeps
//! `c0` first (only its Solidity calldata export swaps to `c1, c0`). The curve is called `bn128`.

use ark_bn254::{Fr, G1Affine, G2Affine};
use serde_json::{json, Value};

use crate::params::{Proof, VerifyingKey};

fn g1(p: &G1Affine) -> Value {
    json!([p.x.to_string(), p.y.to_string(), "1"])
}

fn g2(p: &G2Affine) -> Value {
    json!([
        [p.x.c0.to_string(), p.x.c1.to_string()],
        [p.y.c0.to_string(), p.y.c1.to_string()],
        ["1", "0"]
    ])
}

/// `verification_key.json`.
pub fn verification_key_json(vk: &VerifyingKey) -> Value {
    json!({
        "protocol": "groth16",
        "curve": "bn128",
        "nPublic": vk.gamma_abc_g1.len() - 1,
        "vk_alpha_1": g1(&vk.alpha_g1),
        "vk_beta_2": g2(&vk.beta_g2),
        "vk_gamma_2": g2(&vk.gamma_g2),
        "vk_delta_2": g2(&vk.delta_g2),
        "IC": vk.gamma_abc_g1.iter().map(g1).collect::<Vec<_>>(),
    })
}

/// `proof.json`.
pub fn proof_json(proof: &Proof) -> Value {
    json!({
        "pi_a": g1(&proof.a),
        "pi_b": g2(&proof.b),
        "pi_c": g1(&proof.c),
        "protocol": "groth16",
        "curve": "bn128",
    })
}

/// `public.json`: the public inputs as decimal strings.
pub fn public_json(inputs: &[Fr]) -> Value {
    Value::Array(
        inputs
            .iter()
            .map(|x| Value::String(x.to_string()))
            .collect(),
    )
}
