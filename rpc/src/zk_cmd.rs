//! `ozkcp circuit|params|proof`: the zk mode's circuits, Groth16 parameters and proofs.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Subcommand;
use ozkcp_zk::native::block_instances;
use ozkcp_zk::params::hex_string;
use ozkcp_zk::{
    circuit_info, proof_from_bytes, proof_to_bytes, public_inputs, read_params_pk, read_params_vk,
    setup, snarkjs, verify_chunk, write_params_dir, ChunkProver, ChunkPublic, CircuitShape,
    PreparedKey,
};
use rand::RngCore;

/// `ozkcp circuit …`
#[derive(Subcommand, Debug)]
pub enum CircuitCommand {
    /// Print a zk circuit's constraint counts (total and per part) and public input count.
    Info {
        /// Chunk size S in bytes (a multiple of 64, 64 … 4096).
        #[arg(long)]
        chunk_size: usize,
        /// The circuit with the key-chain link (L_prev = SHA256(SHA256(tag || K))).
        #[arg(long)]
        link: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `ozkcp params …`
#[derive(Subcommand, Debug)]
pub enum ParamsCommand {
    /// Generate Groth16 parameters for a chunk circuit (single-party setup: devnets and tests
    /// only) and write them to a directory.
    Generate {
        /// Chunk size S in bytes (a multiple of 64, 64 … 4096).
        #[arg(long)]
        chunk_size: usize,
        /// The circuit with the key-chain link.
        #[arg(long)]
        link: bool,
        /// Directory for circuit.json, proving_key.bin and verifying_key.bin.
        #[arg(long)]
        out: PathBuf,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// `ozkcp proof …`
#[derive(Subcommand, Debug)]
pub enum ProofCommand {
    /// Write a chunk proof as snarkjs Groth16 JSON (verification_key.json, proof.json,
    /// public.json) plus statement.json and proof.bin.
    ///
    /// Without --proof it proves a chunk first: chunk --chunk of --file taken as one block (or
    /// of random bytes, one chunk long), encrypted under --key (or a random key). With --proof
    /// and --statement it exports an existing proof. The proof is verified before anything is
    /// written. Check it with `snarkjs groth16 verify verification_key.json public.json
    /// proof.json`.
    Export {
        /// Parameter directory (from `ozkcp params generate`).
        #[arg(long)]
        params: PathBuf,
        /// Output directory.
        #[arg(long)]
        out: PathBuf,
        /// File whose bytes form one block (default: random bytes, one chunk long).
        #[arg(long, conflicts_with = "proof")]
        file: Option<PathBuf>,
        /// Which chunk of the block to prove (0-based).
        #[arg(long, default_value_t = 0, conflicts_with = "proof")]
        chunk: usize,
        /// Deal index of the block's first chunk (the ChaCha20 nonce).
        #[arg(long, default_value_t = 0, conflicts_with = "proof")]
        index: u64,
        /// Interval key, 64 hex digits (default: random).
        #[arg(long, conflicts_with = "proof")]
        key: Option<String>,
        /// An existing proof (128 bytes, compressed) to export instead of proving.
        #[arg(long, requires = "statement")]
        proof: Option<PathBuf>,
        /// The statement of --proof (JSON, as statement.json of an earlier export).
        #[arg(long, requires = "proof")]
        statement: Option<PathBuf>,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn shape(chunk_size: usize, link: bool) -> Result<CircuitShape> {
    CircuitShape::new(chunk_size, link).context("invalid --chunk-size")
}

/// Run `ozkcp circuit …`.
pub fn circuit(cmd: CircuitCommand) -> Result<()> {
    let CircuitCommand::Info {
        chunk_size,
        link,
        json,
    } = cmd;
    let info = circuit_info(shape(chunk_size, link)?).context("synthesising the circuit")?;
    if json {
        println!("{}", serde_json::to_string_pretty(&info)?);
        return Ok(());
    }
    let p = &info.parts;
    println!(
        "zk chunk circuit, S = {} B, {}",
        chunk_size,
        if link { "with link" } else { "without link" }
    );
    println!(
        "  constraints  {:>9}  ({:.1} per plaintext byte)",
        info.constraints, info.constraints_per_byte
    );
    println!(
        "    sha256     {:>9}  ({} compressions over the chunk)",
        p.sha, info.sha_compressions
    );
    println!(
        "    chacha20   {:>9}  ({} blocks)",
        p.chacha, info.chacha_blocks
    );
    println!("    lock       {:>9}  (SHA256(K))", p.lock);
    println!("    link       {:>9}", p.link);
    println!(
        "    commitment {:>9}  (Poseidon of the packed statement)",
        p.commitment
    );
    println!("    other      {:>9}", p.other);
    println!("  public inputs {}", info.public_inputs);
    println!("  witness variables {}", info.witness_variables);
    Ok(())
}

/// Run `ozkcp params …`.
pub fn params(cmd: ParamsCommand) -> Result<()> {
    let ParamsCommand::Generate {
        chunk_size,
        link,
        out,
        json,
    } = cmd;
    let shape = shape(chunk_size, link)?;
    eprintln!(
        "WARNING: single-party setup. Whoever runs it knows the trapdoor and can forge proofs; \
         use these parameters for devnets and tests only, never for real deals."
    );
    let (pk, _) = setup(shape, &mut rand::rngs::OsRng).context("parameter generation")?;
    let id = write_params_dir(&out, shape, &pk)
        .with_context(|| format!("writing parameters to {}", out.display()))?;
    let id = hex_string(&id);
    if json {
        println!(
            "{}",
            serde_json::json!({
                "circuit_id": id,
                "chunk_size": chunk_size,
                "link": link,
                "dir": out.display().to_string(),
                "single_party": true,
            })
        );
    } else {
        println!("{id}");
        eprintln!("wrote {} (circuit id above)", out.display());
    }
    Ok(())
}

fn parse_key(hex_key: &str) -> Result<[u8; 32]> {
    let bytes = hex::decode(hex_key.trim()).context("--key is not hex")?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("--key must be 32 bytes (64 hex digits)"))
}

fn write_json(dir: &Path, name: &str, v: &serde_json::Value) -> Result<()> {
    let path = dir.join(name);
    std::fs::write(&path, serde_json::to_vec_pretty(v)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// Run `ozkcp proof …`.
pub fn proof(cmd: ProofCommand) -> Result<()> {
    let ProofCommand::Export {
        params,
        out,
        file,
        chunk,
        index,
        key,
        proof,
        statement,
        json,
    } = cmd;
    let (manifest, vk) = read_params_vk(&params)
        .with_context(|| format!("loading the verifying key from {}", params.display()))?;
    let shape = manifest.shape;
    let (public, proof) = match (proof, statement) {
        (Some(proof), Some(statement)) => {
            let bytes =
                std::fs::read(&proof).with_context(|| format!("reading {}", proof.display()))?;
            let proof = proof_from_bytes(&bytes).context("decoding the proof")?;
            let st = std::fs::read(&statement)
                .with_context(|| format!("reading {}", statement.display()))?;
            let public: ChunkPublic =
                serde_json::from_slice(&st).context("decoding the statement")?;
            (public, proof)
        }
        _ => {
            let key = match key {
                Some(k) => parse_key(&k)?,
                None => {
                    let mut k = [0u8; 32];
                    rand::rngs::OsRng.fill_bytes(&mut k);
                    k
                }
            };
            let block = match &file {
                Some(path) => {
                    std::fs::read(path).with_context(|| format!("reading {}", path.display()))?
                }
                None => {
                    let mut d = vec![0u8; shape.chunk_size];
                    rand::rngs::OsRng.fill_bytes(&mut d);
                    d
                }
            };
            let mut items = block_instances(&block, shape.chunk_size, index, &key, shape.link);
            if chunk >= items.len() {
                bail!(
                    "--chunk {chunk} is out of range: the block has {} chunks of {} B",
                    items.len(),
                    shape.chunk_size
                );
            }
            let (public, witness) = items.swap_remove(chunk);
            let (_, pk) = read_params_pk(&params)
                .with_context(|| format!("loading the proving key from {}", params.display()))?;
            let prover = ChunkProver::new(shape, pk).context("preparing the prover")?;
            let proof = ozkcp_zk::prove_chunk(&prover, &public, &witness, &mut rand::rngs::OsRng)
                .context("proving")?;
            (public, proof)
        }
    };
    let prepared = PreparedKey::new(shape, &vk)?;
    verify_chunk(&prepared, &public, &proof).context("the proof does not verify")?;
    let inputs = public_inputs(&shape, &public)?;

    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    write_json(
        &out,
        "verification_key.json",
        &snarkjs::verification_key_json(&vk),
    )?;
    write_json(&out, "proof.json", &snarkjs::proof_json(&proof))?;
    write_json(&out, "public.json", &snarkjs::public_json(&inputs))?;
    write_json(&out, "statement.json", &serde_json::to_value(&public)?)?;
    let path = out.join("proof.bin");
    std::fs::write(&path, proof_to_bytes(&proof))
        .with_context(|| format!("writing {}", path.display()))?;
    let id = hex_string(&prepared.circuit_id());
    if json {
        println!(
            "{}",
            serde_json::json!({
                "circuit_id": id,
                "index": public.index,
                "len": public.len,
                "final_chunk": public.final_chunk,
                "public": inputs.iter().map(|x| x.to_string()).collect::<Vec<_>>(),
                "dir": out.display().to_string(),
                "files": ["verification_key.json", "proof.json", "public.json", "statement.json", "proof.bin"],
            })
        );
    } else {
        println!(
            "exported chunk {} ({} B{}) of circuit {id} to {}",
            public.index,
            public.len,
            if public.final_chunk { ", final" } else { "" },
            out.display()
        );
        println!(
            "  check: snarkjs groth16 verify {0}/verification_key.json {0}/public.json {0}/proof.json",
            out.display()
        );
    }
    Ok(())
}
